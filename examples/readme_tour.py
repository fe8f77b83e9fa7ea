"""Checks that README.md's tour (its first ```cpp block) is examples/tour.cpp from the
line `#include <lagoon/lagoon.hpp>` on, so the tour a reader copies is a program that
builds and runs in CTest. Prints the first difference and exits 1 otherwise."""
import difflib
import sys


def main(readme, tour):
    text = open(readme, encoding="utf-8").read()
    start = text.index("## A tour of the API")
    block = text[text.index("```cpp\n", start) + len("```cpp\n"):]
    block = block[: block.index("```\n")].splitlines()
    program = open(tour, encoding="utf-8").read().splitlines()
    program = program[program.index("#include <lagoon/lagoon.hpp>"):]
    if block == program:
        print(f"the README's tour is {tour} ({len(program)} lines)")
        return 0
    diff = difflib.unified_diff(program, block, tour, "README.md tour", lineterm="", n=1)
    print("\n".join(list(diff)[:40]))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
