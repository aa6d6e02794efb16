"""slm serve through the official `openai` Python client and through `curl -N`: completions and
chat (plain and streamed), embeddings, models, logprobs, stop strings, tokenize/detokenize, and
the error cases (bad JSON, wrong types, missing fields, 401, 404, 405, 413, over-context 400).
Greedy output through the server equals `slm generate --temp 0` for the same prompt
(stories260K, and Gemma 3 270M in its chat template)."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import STORIES, run
from gemma import gemma_path
from minilm import minilm_path
from serve_util import Server, http

openai = pytest.importorskip("openai", reason="the openai package is not installed (scripts/setup.sh --test)")

STORIES_BIN = STORIES / "stories260K.bin"
PROMPT = "Once upon a time, a small dog"


def client(server, key="none"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def stories():
    s = Server("-m", STORIES_BIN, "--ctx", 256, "--parallel", 4, "--max-body", 64)
    yield s
    s.stop()


def generate(slm, model, prompt, n, *extra):
    out = run([slm, "generate", "-m", model, "-p", prompt, "--temp", 0, "-n", n, "--no-echo", *extra]).stdout
    assert out.endswith(b"\n")
    return out[:-1].decode()


def test_models_and_health(stories):
    models = client(stories).models.list()
    assert [m.id for m in models.data] == ["stories260K"]
    assert client(stories).models.retrieve("stories260K").id == "stories260K"
    with pytest.raises(openai.NotFoundError):
        client(stories).models.retrieve("gpt-4")
    status, headers, body = http(stories.url, path="/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, headers, body = http(stories.url, path="/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<html" in body


LONG_PROMPT = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. One day, "
               "she saw a big red ball in the park. She ran to the ball and kicked it very hard. The ball flew over the "
               "trees and into the pond. Lily was sad because she could not get her ball back. Her mom came and said")


@pytest.mark.parametrize("prompt,n", [(PROMPT, 40), (PROMPT, 120), (LONG_PROMPT, 80)])
def test_greedy_completion_equals_generate(slm, stories, prompt, n):
    """Also a prompt of 118 tokens, which the server evaluates in chunks of 64."""
    expected = generate(slm, STORIES_BIN, prompt, n)
    r = client(stories).completions.create(model="stories260K", prompt=prompt, temperature=0, max_tokens=n)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == "stories260K"
    assert r.choices[0].text == expected
    assert r.choices[0].finish_reason in ("length", "stop")
    assert r.usage.completion_tokens <= n and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # streamed: the pieces join to the same text, the last chunk carries the finish reason
    chunks = list(client(stories).completions.create(model="stories260K", prompt=prompt, temperature=0, max_tokens=n,
                                                     stream=True))
    assert "".join(c.choices[0].text for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == r.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_empty_prompt_starts_from_bos(slm, stories):
    expected = generate(slm, STORIES_BIN, "", 30)
    r = client(stories).completions.create(model="x", prompt="", temperature=0, max_tokens=30)
    assert r.choices[0].text == expected


def test_sampling_is_seeded(stories):
    c = client(stories)
    texts = [c.completions.create(model="x", prompt=PROMPT, temperature=0.9, top_p=0.9, seed=s, max_tokens=30).choices[0].text
             for s in (7, 7, 8)]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_stop_strings(slm, stories):
    full = generate(slm, STORIES_BIN, PROMPT, 60)
    word = full.split()[3]
    cut = full[: full.index(word)]
    for stop in (word, [word, "zzzz"]):
        r = client(stories).completions.create(model="x", prompt=PROMPT, temperature=0, max_tokens=60, stop=stop)
        assert r.choices[0].text == cut and r.choices[0].finish_reason == "stop"
        chunks = list(client(stories).completions.create(model="x", prompt=PROMPT, temperature=0, max_tokens=60, stop=stop,
                                                         stream=True))
        assert "".join(c.choices[0].text for c in chunks) == cut


def test_logprobs(stories):
    r = client(stories).completions.create(model="x", prompt=PROMPT, temperature=0, max_tokens=10, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == r.usage.completion_tokens == 10
    assert "".join(lp.tokens) == r.choices[0].text
    for tok, val, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert val <= 0 and len(top) >= 1
        assert max(top.values()) == pytest.approx(val, abs=1e-5)  # greedy: the chosen token is the best


def test_tokenize_detokenize(stories):
    status, _, body = http(stories.url, "POST", "/tokenize", {"content": "Hello world"})
    assert status == 200
    tokens = json.loads(body)["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    status, _, body = http(stories.url, "POST", "/detokenize", {"tokens": tokens})
    assert status == 200 and json.loads(body)["content"] == "Hello world"
    # a prompt given as token ids continues as the text does
    a = client(stories).completions.create(model="x", prompt="Hello world", temperature=0, max_tokens=12).choices[0].text
    bos = json.loads(http(stories.url, "POST", "/tokenize", {"content": "Hello world", "add_special": True})[2])["tokens"]
    b = client(stories).completions.create(model="x", prompt=bos, temperature=0, max_tokens=12).choices[0].text
    assert a == b


def test_keywords_route(stories):
    text = ("Small language models run on ordinary CPUs. A small language model needs little memory, "
            "and quantised language models run faster on CPUs.")
    status, _, body = http(stories.url, "POST", "/v1/keywords", {"input": [text, "nothing"], "top_k": 3})
    assert status == 200, body
    data = json.loads(body)["data"]
    assert len(data) == 2 and 1 <= len(data[0]["keywords"]) <= 3
    assert any("language model" in k["phrase"].lower() for k in data[0]["keywords"])


def test_errors(stories):
    c = client(stories)
    with pytest.raises(openai.BadRequestError) as e:  # a wrong type
        c.completions.create(model="x", prompt="hi", max_tokens="ten")
    assert e.value.body["param"] == "max_tokens" and e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model="x", prompt="hi", temperature=-1)
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model="x", prompt={"a": 1})
    with pytest.raises(openai.BadRequestError):  # a missing field
        c.chat.completions.create(model="x", messages=[])
    with pytest.raises(openai.BadRequestError) as e:  # longer than the context (256)
        c.completions.create(model="x", prompt="Once upon a time " * 200, max_tokens=5)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model="x", prompt=[1, 2, 99999], max_tokens=5)
    with pytest.raises(openai.BadRequestError) as e:  # not implemented: refused, not ignored
        c.completions.create(model="x", prompt="a", echo=True)
    assert e.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model="x", prompt="a", logit_bias={"5": 100})
    for body in (b"{bad json", b"[1, 2]", b'{"prompt": "a"} trailing', b"", b'{"prompt": "\xff\xfe"}', b'{"n": 2}'):
        status, _, data = http(stories.url, "POST", "/v1/completions", body)
        assert status == 400, (body, data)
        err = json.loads(data)["error"]
        assert set(err) == {"message", "type", "param", "code"}
    status, _, data = http(stories.url, "POST", "/v1/completions", b"x" * (65 * 1024))  # --max-body 64 KiB
    assert status == 413 and "limit" in json.loads(data)["error"]["message"]
    status, _, _ = http(stories.url, "GET", "/v1/nothing")
    assert status == 404
    status, headers, _ = http(stories.url, "GET", "/v1/completions")
    assert status == 405 and headers.get("Allow") == "POST"
    status, _, _ = http(stories.url, "POST", "/v1/embeddings", {"input": "x"})  # no --embed-model
    assert status == 404
    status, _, _ = http(stories.url, "POST", "/../../etc/passwd")
    assert status == 404


def test_api_key_and_cors():
    s = Server("-m", STORIES_BIN, "--ctx", 128, "--api-key", "s3cret-key", "--cors")
    try:
        with pytest.raises(openai.AuthenticationError):
            client(s, "wrong-key").models.list()
        with pytest.raises(openai.AuthenticationError):
            client(s, "s3cret-ke").completions.create(model="x", prompt="a", max_tokens=1)
        assert client(s, "s3cret-key").models.list().data[0].id == "stories260K"
        status, headers, _ = http(s.url, path="/health")  # open without a key
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        status, headers, _ = http(s.url, "OPTIONS", "/v1/chat/completions")
        assert status == 204 and "Authorization" in headers["Access-Control-Allow-Headers"]
        status, _, _ = http(s.url, path="/metrics")
        assert status == 401
    finally:
        s.stop()


def test_no_cors_headers_by_default(stories):
    status, headers, _ = http(stories.url, path="/health")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = http(stories.url, "OPTIONS", "/v1/chat/completions")
    assert status == 405


def test_metrics(stories):
    client(stories).completions.create(model="x", prompt=PROMPT, temperature=0, max_tokens=5)
    status, headers, body = http(stories.url, path="/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'slm_requests_total{route="/v1/completions",status="200"}' in text
    assert "slm_generated_tokens_total" in text and "slm_queue_depth" in text and "slm_active_slots" in text
    assert 'slm_request_duration_seconds_bucket{route="/v1/completions",le="+Inf"}' in text


# ---------------------------------------------------------------- Gemma 3 270M: chat


@pytest.fixture(scope="module")
def gemma():
    path = gemma_path()
    s = Server("-m", path, "--ctx", 512, "--parallel", 2)
    yield s, path
    s.stop()


MESSAGES = [{"role": "user", "content": "Name a colour."}]


def test_gemma_chat_greedy_equals_generate(slm, gemma):
    server, path = gemma
    expected = generate(slm, path, MESSAGES[0]["content"], 8, "--chat")
    r = client(server).chat.completions.create(model="gemma", messages=MESSAGES, temperature=0, max_tokens=8)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == expected
    chunks = list(client(server).chat.completions.create(model="gemma", messages=MESSAGES, temperature=0, max_tokens=8,
                                                         stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == r.choices[0].finish_reason


def test_curl_streams_chat(gemma):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl is not installed")
    server, _ = gemma
    body = json.dumps({"model": "gemma", "messages": MESSAGES, "max_tokens": 6, "temperature": 0, "stream": True})
    out = subprocess.run([curl, "-sN", "-H", "Content-Type: application/json", "-d", body, server.url + "/v1/chat/completions"],
                         capture_output=True, timeout=300, check=True).stdout.decode()
    assert out.endswith("data: [DONE]\n\n")
    events = out.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)
    assert len({p["id"] for p in payloads}) == 1
    assert payloads[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_chat_logprobs_and_errors(gemma):
    server, _ = gemma
    r = client(server).chat.completions.create(model="gemma", messages=MESSAGES, temperature=0, max_tokens=3,
                                               logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob == pytest.approx(t.logprob, abs=1e-5) for t in content)
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gemma", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gemma", messages=[{"role": "user", "content": 5}])
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gemma", messages="hello")


# ---------------------------------------------------------------- embeddings (all-MiniLM-L6-v2)


@pytest.fixture(scope="module")
def minilm_gguf(slm, tmp_path_factory):
    folder = minilm_path()
    out = tmp_path_factory.mktemp("minilm") / "minilm.gguf"
    run([slm, "convert", folder, out])
    return out


@pytest.fixture(scope="module")
def classifier(slm, minilm_gguf, tmp_path_factory):
    """A (barely) fine-tuned sentiment classifier: one epoch on 16 sentences."""
    d = tmp_path_factory.mktemp("clf")
    rows = [(f"The film was {w}.", lab) for w, lab in (("great", "pos"), ("awful", "neg"), ("wonderful", "pos"),
                                                     ("terrible", "neg"), ("lovely", "pos"), ("boring", "neg"),
                                                     ("superb", "pos"), ("dreadful", "neg"))] * 2
    (d / "train.jsonl").write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    out = d / "sentiment.gguf"
    run([slm, "finetune", "--task", "classify", "-m", minilm_gguf, "--train", d / "train.jsonl", "-o", out,
         "--epochs", "1", "--batch", "8", "--max-len", "16"], timeout=600)
    return out


def test_embeddings_and_classify(slm, minilm_gguf, classifier):
    texts = ["A man is playing a guitar.", "The weather is lovely today.", "Un homme joue de la guitare."]
    lines = run([slm, "embed", "-m", minilm_gguf, "-q", "--file", "-"], input="\n".join(texts).encode()).stdout
    expected = np.array([json.loads(line)["embedding"] for line in lines.decode().splitlines()])
    lines = run([slm, "classify", "-m", classifier, *texts]).stdout.decode().splitlines()
    expected_labels = [json.loads(line) for line in lines]
    s = Server("-m", STORIES_BIN, "--ctx", 128, "--embed-model", minilm_gguf, "--classifier", classifier)
    try:
        c = client(s)
        assert {m.id for m in c.models.list().data} == {"stories260K", "minilm", "sentiment"}
        status, _, body = http(s.url, "POST", "/v1/classify", {"input": texts})
        assert status == 200, body
        data = json.loads(body)["data"]
        for got, want in zip(data, expected_labels):
            assert got["label"] == want["label"]
            assert set(got["probs"]) == {"pos", "neg"}
            for k, v in want["probs"].items():
                assert got["probs"][k] == pytest.approx(v, abs=1e-5)
        status, _, body = http(s.url, "POST", "/v1/classify", {"input": 5})
        assert status == 400
        r = c.embeddings.create(model="minilm", input=texts)  # the client asks for base64
        got = np.array([d.embedding for d in r.data])
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-5
        assert r.usage.prompt_tokens > 0 and [d.index for d in r.data] == [0, 1, 2]
        r = c.embeddings.create(model="minilm", input=texts[0], encoding_format="float")
        assert np.abs(np.array(r.data[0].embedding) - expected[0]).max() < 1e-5
        with pytest.raises(openai.BadRequestError):
            c.embeddings.create(model="minilm", input=[1, 2, 3])
        with pytest.raises(openai.BadRequestError):
            c.embeddings.create(model="minilm", input="x", dimensions=7)
        status, _, body = http(s.url, "POST", "/v1/keywords", {"input": "Sentence embeddings help keyword extraction "
                                                                          "with small encoders.", "method": "embed"})
        assert status == 200 and json.loads(body)["data"][0]["keywords"]
    finally:
        s.stop()
