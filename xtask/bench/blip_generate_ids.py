"""transformers side of the BLIP generation cross-check: prints the ids `generate` returns per image
for a checkpoint, `pixel_values` (safetensors) and settings JSON, in the format of
`cargo run -p tandem-blip --example generate_ids -- <dir> <pixels> <json>` (compare the two lines).

Usage: .venv/bin/python xtask/bench/blip_generate_ids.py <dir> <pixels.safetensors> <settings json>
"""
import json, sys, torch
from safetensors.torch import load_file
from transformers import BlipForConditionalGeneration, BertTokenizer
d, px_path, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.set_num_threads(1)
m = BlipForConditionalGeneration.from_pretrained(d, dtype=torch.float32).eval()
tok = BertTokenizer.from_pretrained(d)
px = load_file(px_path)["pixel_values"].float()
prompt = settings.pop("prompt", None)
out = []
for i in range(px.shape[0]):
    ids = None if prompt is None else torch.tensor([tok(prompt)["input_ids"]])
    with torch.no_grad():
        seqs = m.generate(pixel_values=px[i:i+1], input_ids=ids, **settings).tolist()
    plen = 1 if prompt is None else len(tok(prompt)["input_ids"]) - 1
    res = []
    for s in seqs:
        gen = s[plen:]
        if 102 in gen:
            gen = gen[: gen.index(102) + 1]
        res.append(s[:plen] + gen)
    out.append(res)
print(json.dumps(out, separators=(",", ":")))
