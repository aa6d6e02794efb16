"""The llama.cpp peer of the benchmarks: llama.cpp's own tools and libraries built natively for
this CPU (GGML_NATIVE=ON) by scripts/llamacpp_native.sh from the sources vendored in the
llama-cpp-python sdist, described by .peer/llamacpp.json (paths, cmake flags, CPU features).

  tool("llama-server")          the path of one of its tools, or exit telling to build it
  binding(allow_non_native)     import the llama_cpp Python binding over the native libraries
                                (sets LLAMA_CPP_LIB_PATH) and check that those are the ones
                                loaded; returns the row label and the peer's build line
  build_line(desc)              "llama.cpp from llama-cpp-python 0.3.36's vendored sources, built
                                with -DGGML_NATIVE=ON in ...; system_info: CPU : AVX2 = 1 | ..."
  cpu_line()                    the CPU model and its SIMD features, from /proc/cpuinfo"""
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DESC = ROOT / ".peer" / "llamacpp.json"
BUILD_IT = "scripts/llamacpp_native.sh"
NATIVE_LABEL, NON_NATIVE_LABEL = "llama.cpp", "llama.cpp (non-native build)"
SIMD = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni",
        "amx_tile", "amx_int8", "amx_bf16"]


def describe():
    """.peer/llamacpp.json as a dict, or None when the native build is absent."""
    return json.loads(DESC.read_text()) if DESC.exists() else None


def tool(name, who="bench"):
    """The path of a tool of the native build (llama-server, llama-bench, ...); exits when absent."""
    desc = describe()
    path = pathlib.Path(desc["bin"]) / name if desc else None
    if path is None or not path.exists():
        where = f"{path} is absent" if path else f"{DESC.relative_to(ROOT)} is missing"
        sys.exit(f"{who}: no native llama.cpp build ({where}): run {BUILD_IT} "
                 f"(it builds llama.cpp's own tools natively for this CPU; minutes)")
    return path


def system_info(desc):
    """llama.cpp's own report of the CPU features its libraries were compiled for
    (llama_print_system_info of the build's libllama), else the one recorded in the description."""
    try:
        import ctypes
        lib = ctypes.CDLL(str(pathlib.Path(desc["lib"]) / "libllama.so"))
        lib.llama_print_system_info.restype = ctypes.c_char_p
        return lib.llama_print_system_info().decode(errors="replace").strip()
    except (OSError, AttributeError, KeyError):
        return desc.get("system_info", "")


def build_line(desc, info=None):
    """One line on how the peer was built: version, cmake flags, features switched off, and
    llama.cpp's own system_info (given, else asked of the build's library)."""
    disabled = desc.get("disabled") or []
    info = info if info is not None else system_info(desc)
    return (f"llama.cpp from llama-cpp-python {desc.get('llama_cpp_python', '?')}'s vendored sources, built with "
            f"{desc.get('cmake', '?')}{' (disabled: ' + ' '.join(disabled) + ')' if disabled else ''} "
            f"in {desc.get('bin', '?')}" + (f"; system_info: {info.strip()}" if info.strip() else ""))


def cpu_line():
    model, flags = "", []
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return f"CPU: {model or 'unknown'}; {' '.join(f for f in SIMD if f in flags)}; {os.cpu_count()} CPUs"


def _loaded_libraries():
    """The real paths of the llama / ggml shared libraries mapped into this process."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if name.startswith(("libllama", "libggml")) and ".so" in name:
                found.add(os.path.realpath(path))
    return sorted(found)


def binding(allow_non_native=False, who="bench"):
    """Imports llama_cpp over the native libraries; returns (label, build line).

    The binding counts as native when every libllama / libggml it loaded lies in the native
    build's folder (.peer/llamacpp.json "lib"). Otherwise the benchmark stops, unless
    allow_non_native, where the label says "non-native build"."""
    desc = describe()
    if desc and "LLAMA_CPP_LIB_PATH" not in os.environ:
        os.environ["LLAMA_CPP_LIB_PATH"] = desc["lib"]  # inherited by the peer's subprocesses too
    try:
        import llama_cpp
    except ImportError as e:
        sys.exit(f"{who}: the llama_cpp binding is not installed ({e}): run {BUILD_IT}")
    libs = _loaded_libraries()
    lib_dir = os.path.realpath(desc["lib"]) if desc else None
    native = bool(lib_dir and libs and all(os.path.dirname(p) == lib_dir for p in libs))
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    if native:
        return NATIVE_LABEL, "llama.cpp: the llama_cpp binding over the native libraries; " + build_line(desc, info)
    why = (f"{DESC.relative_to(ROOT)} is missing" if not desc else
           f"LLAMA_CPP_LIB_PATH={os.environ.get('LLAMA_CPP_LIB_PATH')}, not the native build's {lib_dir}")
    if not allow_non_native:
        sys.exit(f"{who}: the llama_cpp binding is not over the native llama.cpp build ({why}): run {BUILD_IT}, "
                 f"or pass --allow-non-native to time it anyway (labelled \"{NON_NATIVE_LABEL}\")")
    return NON_NATIVE_LABEL, (f"{NON_NATIVE_LABEL}: llama-cpp-python {getattr(llama_cpp, '__version__', '?')} "
                              f"({why}; loaded: {', '.join(libs) or '?'}); system_info: {info}")
