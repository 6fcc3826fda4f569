#!/usr/bin/env python3
"""Deterministic benchmark input for bench/produce_bench.sh.

    gen_messages.py COUNT SIZE OUT_FILE

Writes COUNT text lines of exactly SIZE bytes (ASCII, newline not counted), message i
(1-based) starting with its 7-digit number and a space. Message i % 3 == 1 has a Sport
keyword (basketball, football, messi), i % 3 == 2 an AI keyword (AI, ML, NLP, CV), i % 3 == 0
none: the founding document's routing rules (config/routes.yaml) split the stream in thirds.
Keywords sit at varying word positions and in varying case; the keyword-free lines carry
near misses (messiah, footballer, email, CVS, ...) that a whole-word matcher must not take.

Prints "sport=N ai=N none=N" on stdout, counted again with a regex implementing the
matcher's rule (whole word, ASCII case ignored, first route wins), so a generator bug shows
up here and not as a routing "failure" later. Same arguments, same bytes, every run.
"""
import random
import re
import sys

SPORT = ["basketball", "Basketball", "football", "Football", "FOOTBALL", "messi", "Messi"]
AI = ["AI", "AI", "ML", "NLP", "CV", "ai", "Ml"]
NEAR_MISS = ["messiah", "footballer", "basketballs", "email", "maintain", "CVS", "HTML",
             "NLPs", "AI2", "ML_ops", "said", "aim", "mlb", "cvent"]
WORDS = ("the a of to and in on for with at from by after before during new late early big "
         "small city team fans crowd match season report update model data paper result "
         "score scored win wins won lost draw night today tomorrow yesterday coach player "
         "players league cup final title record market price users system release launch "
         "research lab group study shows says announced weekend morning evening again "
         "still very more most first second third stadium training network image text "
         "speech robot cloud chip startup funding benchmark dataset open source").split()

SPORT_RE = re.compile(r"(?<![A-Za-z0-9_])(basketball|football|messi)(?![A-Za-z0-9_])", re.I)
AI_RE = re.compile(r"(?<![A-Za-z0-9_])(AI|ML|NLP|CV)(?![A-Za-z0-9_])", re.I)


def line(rng: random.Random, i: int, size: int) -> str:
    kind = i % 3
    words = rng.choices(WORDS, k=16)
    if kind == 1:
        keyword = rng.choice(SPORT)
    elif kind == 2:
        keyword = rng.choice(AI)
    else:
        keyword = rng.choice(NEAR_MISS)
    words.insert(rng.randrange(0, 10), keyword)  # early enough never to be cut off
    text = f"{i:07d}"
    for w in words:
        if len(text) + 1 + len(w) > size - 1:
            break
        text += " " + w
    text += " "
    return text + "." * (size - len(text))


def main() -> None:
    count, size, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if size < 40:
        sys.exit("gen_messages.py: SIZE must be at least 40")
    rng = random.Random(20251127)
    counts = {"sport": 0, "ai": 0, "none": 0}
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for i in range(1, count + 1):
            text = line(rng, i, size)
            assert len(text) == size, (i, text)
            if SPORT_RE.search(text):
                counts["sport"] += 1
            elif AI_RE.search(text):
                counts["ai"] += 1
            else:
                counts["none"] += 1
            f.write(text + "\n")
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
