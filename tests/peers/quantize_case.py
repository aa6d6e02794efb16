"""The model the quantize tests use: a random Llama whose matrices have rows of 256 and 768
elements (so every K-quant fits), written in f32, and the token sequence they evaluate."""
import pathlib

from conftest import DATA
from random_llama import make_weights, write_gguf

CONFIG = dict(dim=256, hidden=768, n_layers=2, n_heads=4, n_kv_heads=2, vocab=32000, ctx=128, tied=False)
TYPES = ["q8_0", "q4_0", "q4_K", "q6_K"]
TOKENS = [1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257]


def write_f32_model(path):
    return write_gguf(pathlib.Path(path), CONFIG, make_weights(CONFIG, seed=7),
                      DATA / "tokenizers" / "llama2_32k" / "tokenizer.model")
