"""transformers side of `cargo xtask bench cascade`: the same BLIP -> CLIP job that
`tandem caption` runs, on the same full-size random checkpoints and the same photos, in the
same dtype, so the benchmark can print both times and their ratio from one run.

Per image, as the Beam notebook's pipeline and `tandem caption`'s defaults do:
BlipForConditionalGeneration.generate(do_sample=True, num_return_sequences=CAPTIONS,
max_length, min_length=5, top_k=50, top_p=0.9), the captions decoded, then CLIPModel on the
image and its captions and a softmax over the captions (`logits_per_image`).

Timing: `load_s` (models and processors, from the folders) and `run_s` (every image, no
warm-up, as the Tandem process has none). Prints one JSON line.

Usage: .venv/bin/python xtask/bench/cascade_torch.py --blip DIR --clip DIR [--dtype f32|bf16]
    [--captions 10] [--max-length 30] [--threads 2] IMAGE...
"""

import argparse
import json
import time

import torch
import transformers
from PIL import Image
from transformers import (
    BertTokenizerFast,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    CLIPImageProcessor,
    CLIPModel,
    CLIPTokenizerFast,
)

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blip", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--captions", type=int, default=10)
    ap.add_argument("--max-length", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    dtype = DTYPES[args.dtype]

    start = time.perf_counter()
    blip = BlipForConditionalGeneration.from_pretrained(args.blip, dtype=dtype).eval()
    blip_pixels = BlipImageProcessor.from_pretrained(args.blip)
    blip_tokens = BertTokenizerFast.from_pretrained(args.blip)
    clip = CLIPModel.from_pretrained(args.clip, dtype=dtype).eval()
    clip_pixels = CLIPImageProcessor.from_pretrained(args.clip)
    clip_tokens = CLIPTokenizerFast.from_pretrained(args.clip)
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    best = []
    for path in args.images:
        image = Image.open(path).convert("RGB")
        with torch.inference_mode():
            pixels = blip_pixels(images=image, return_tensors="pt")["pixel_values"].to(dtype)
            ids = blip.generate(
                pixel_values=pixels,
                do_sample=True,
                num_return_sequences=args.captions,
                max_length=args.max_length,
                min_length=5,
                top_k=50,
                top_p=0.9,
            )
            captions = blip_tokens.batch_decode(ids, skip_special_tokens=True)
            text = clip_tokens(captions, padding=True, truncation=True, return_tensors="pt")
            image_in = clip_pixels(images=image, return_tensors="pt")["pixel_values"].to(dtype)
            logits = clip(pixel_values=image_in, **text).logits_per_image
            probs = logits.float().softmax(dim=-1)[0]
        best.append(float(probs.max()))
    run_s = time.perf_counter() - start
    print(json.dumps({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": args.dtype,
        "threads": args.threads,
        "images": len(args.images),
        "load_s": load_s,
        "run_s": run_s,
        "best_probability_mean": sum(best) / len(best),
    }))


if __name__ == "__main__":
    main()
