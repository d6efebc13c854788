"""PyTorch side of the BLIP captioning benchmark (compare with
`cargo run --release -p tandem-benches --bin blip_captioning`).

Full-size blip-image-captioning-base configuration with random weights, CPU, f32,
`generate(num_return_sequences=10, do_sample=True, max_length=30)` per image, as the
transformers documentation does it. Prints seconds per image and generated tokens per second.

Usage: .venv/bin/python xtask/bench/blip_torch.py [--threads 2] [--images 3] [--preset base]
"""

import argparse
import json
import time

import torch
from transformers import BlipConfig, BlipForConditionalGeneration

PRESETS = {
    "base": dict(
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=384, patch_size=16, layer_norm_eps=1e-5),
        text_config=dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=512),
    ),
    "large": dict(
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           image_size=384, patch_size=16, layer_norm_eps=1e-5),
        text_config=dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=512),
    ),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--preset", default="base", choices=sorted(PRESETS))
    ap.add_argument("--captions", type=int, default=10)
    ap.add_argument("--max-length", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(**PRESETS[args.preset])).eval()
    size = PRESETS[args.preset]["vision_config"]["image_size"]
    pixels = torch.randn(args.images + 1, 3, size, size)

    def run(i):
        with torch.inference_mode():
            out = model.generate(
                pixel_values=pixels[i : i + 1],
                do_sample=True,
                num_return_sequences=args.captions,
                max_length=args.max_length,
            )
        # Generated tokens: everything after [DEC], up to and including [SEP] (pads excluded).
        sep, pad = model.config.text_config.sep_token_id, model.config.text_config.pad_token_id
        n = 0
        for row in out.tolist():
            gen = row[1:]
            if sep in gen:
                gen = gen[: gen.index(sep) + 1]
            n += len([t for t in gen if t != pad]) if sep not in row[1:] else len(gen)
        return n

    run(args.images)  # warm-up, not timed
    tokens = 0
    start = time.perf_counter()
    for i in range(args.images):
        tokens += run(i)
    secs = time.perf_counter() - start
    result = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "preset": args.preset,
        "images": args.images,
        "seconds_per_image": secs / args.images,
        "tokens": tokens,
        "tokens_per_second": tokens / secs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pytorch {torch.__version__}, {args.threads} threads, {args.preset}: "
              f"{result['seconds_per_image']:.3f} s/image, {result['tokens_per_second']:.1f} tokens/s "
              f"({tokens} tokens over {args.images} images)")


if __name__ == "__main__":
    main()
