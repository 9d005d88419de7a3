"""Whether a released static decoder's CUDA memory comes back, and if not, who still holds the decoder."""
import gc
import sys
import weakref

import torch

sys.path.insert(0, "tests/model")
from model_helpers import tiny_model  # noqa: E402
from transformer_lab.model.static_decoding import release_static_decoders, static_decoder  # noqa: E402

device = torch.device("cuda")
model = tiny_model().to(device).eval()
shape = dict(sentences=48, rows_per_sentence=4, src_len=40, max_len=60, device=device)
for capture in (False, True):
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated(device)
    decoder = static_decoder(model, capture=capture, **shape)
    ref = weakref.ref(decoder)
    during = torch.cuda.memory_allocated(device)
    release_static_decoders(model)
    del decoder
    gc.collect()
    torch.cuda.synchronize()
    after = torch.cuda.memory_allocated(device)
    print(f"capture={capture}: before {before}, with decoder {during}, after release {after}, alive={ref() is not None}")
    if ref() is not None:
        for holder in gc.get_referrers(ref()):
            print("  held by", type(holder), str(holder)[:200])
