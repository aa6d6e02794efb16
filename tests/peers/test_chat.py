"""Chat: the Gemma template formats a conversation as Gemma's tokenizer config does (system text
folded into the first user turn), other models fall back to ChatML, `slm generate --chat` runs one
turn, and `slm chat` holds a conversation from standard input with /reset and /exit."""
from conftest import STORIES, run
from gemma import gemma_path


def test_gemma_template(tools):
    out = run([tools / "chat_format", gemma_path(), "system", "Be brief.", "user", "Hi", "assistant", "Hello!",
               "user", "Bye"]).stdout.decode()
    name, text = out.split("\n", 1)
    assert name == "gemma"
    assert text == ("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                    "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")


def test_chatml_fallback(tools):
    out = run([tools / "chat_format", STORIES / "stories260K.bin", "--no-gen", "user", "Hi"]).stdout.decode()
    assert out == "chatml\n<|im_start|>user\nHi<|im_end|>\n"


def test_generate_chat_one_turn(slm):
    proc = run([slm, "generate", "-m", gemma_path(), "--chat", "-p", "Name a colour.", "-n", "8", "--temp", "0"])
    assert proc.stdout.strip()  # the reply only: the template is not echoed
    assert b"<start_of_turn>" not in proc.stdout
    assert b"prompt: 13 tokens" in proc.stderr  # <bos> + 12 template and message tokens


def test_chat_repl(slm):
    proc = run([slm, "chat", "-m", STORIES / "stories260K.bin", "-n", "12", "--temp", "0"],
               input=b"Once upon a time\n/reset\nThe dog\n/exit\n")
    assert proc.stdout.count(b"> ") == 4  # one prompt per line read
    assert proc.stderr.count(b"prompt tokens at") == 2  # one stats line per answered turn
    assert b"template chatml" in proc.stderr
