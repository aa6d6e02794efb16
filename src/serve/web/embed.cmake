# Embeds the web page (src/serve/web/index.html) in the binary: writes
# ${CMAKE_BINARY_DIR}/generated/web_page.c, which defines serve_web_page() (src/serve/web_page.h),
# and sets SLM_WEB_PAGE_SOURCE to its path. Editing index.html re-runs this at the next build.
set(SLM_WEB_PAGE_HTML ${CMAKE_CURRENT_LIST_DIR}/index.html)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${SLM_WEB_PAGE_HTML} ${CMAKE_CURRENT_LIST_DIR}/web_page.c.in)
file(READ ${SLM_WEB_PAGE_HTML} SLM_WEB_PAGE_BYTES HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," SLM_WEB_PAGE_BYTES "${SLM_WEB_PAGE_BYTES}")
set(SLM_WEB_PAGE_SOURCE ${CMAKE_BINARY_DIR}/generated/web_page.c)
configure_file(${CMAKE_CURRENT_LIST_DIR}/web_page.c.in ${SLM_WEB_PAGE_SOURCE} @ONLY)
