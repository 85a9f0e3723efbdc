#!/bin/sh
# tools/fuzz.sh [SECONDS] - build the libFuzzer harnesses and run each for SECONDS (default 30).
#
# Configures build-fuzz with clang and -DAION_FUZZ=ON, builds every fuzz/fuzz_*.c harness,
# and runs each with -max_total_time=SECONDS over a corpus kept in build-fuzz/corpus/<name>
# (so later runs start where earlier ones stopped). Seeds for fuzz_gguf are the committed
# broken files plus one valid file written here. Exits non-zero on the first crash, leak or
# timeout; the input that triggered it is saved as build-fuzz/artifacts/<name>-crash-* and
# can be replayed with: build-fuzz/fuzz/<name> FILE
set -eu

seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=${FUZZ_BUILD_JOBS:-2}

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DAION_FUZZ=ON -DAION_SERVER=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# A small well-formed GGUF v3 file (metadata of each kind, two tensors), so the fuzzer starts
# from the accepting path as well as from the broken files.
write_valid_gguf() {
    python3 - "$1" <<'PY'
import struct, sys
def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b
kv = [
    s("general.architecture") + struct.pack("<I", 8) + s("llama"),
    s("general.alignment") + struct.pack("<II", 4, 32),
    s("llama.rope.freq_base") + struct.pack("<If", 6, 10000.0),
    s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + s("a") + s("") + s("<s>"),
    s("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 0.5, -1.0),
    s("general.flag") + struct.pack("<IB", 7, 1),
    s("general.big") + struct.pack("<IQ", 10, 1 << 40),
]
tensors = [("tok_embd.weight", [8, 2], 0, 64), ("output.weight", [32], 8, 34)]
out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv)
offset = 0
for name, ne, typ, n in tensors:
    out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
    out += struct.pack("<IQ", typ, offset)
    offset += (n + 31) // 32 * 32
out += b"\0" * (-len(out) % 32)
for _, _, _, n in tensors:
    out += bytes(i % 251 for i in range(n)) + b"\0" * (-n % 32)
open(sys.argv[1], "wb").write(out)
PY
}

seed_dir() {
    dir="$build/seeds/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$1" = fuzz_gguf ]; then
        cp "$root"/tests/data/gguf-broken/*.gguf "$dir"/
        write_valid_gguf "$dir/valid.gguf" || echo "fuzz.sh: no python3: fuzzing without a valid seed" >&2
    fi
    cp "$root"/tests/hf/fuzz-seeds/"$1"/* "$dir"/ 2>/dev/null || true
    if [ "$1" = fuzz_tokenizer ]; then
        cp "$root"/tests/data/ref/README.md "$dir"/ && printf 'def f(x):\n\treturn x  # \xc3\xa9\xe4\xb8\xad <s></s>' > "$dir/code.txt"
    fi
    echo "$dir"
}

cd "$root"  # harnesses find their vocabularies by paths relative to the repository
status=0 passed=0 failed=0
for src in "$root"/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    cmake --build "$build" -j"$jobs" --target "$name"
    seeds=$(seed_dir "$name")
    corpus="$build/corpus/$name"
    mkdir -p "$corpus" "$build/artifacts"
    echo "fuzz.sh: running $name for $seconds s"
    log="$build/$name.log"  # libFuzzer's progress lines go here; the verdict and stats are printed
    if "$build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
            -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "$corpus" "$seeds" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "fuzz.sh: $name ok: $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') inputs"
    else
        failed=$((failed + 1))
        tail -40 "$log" >&2
        echo "fuzz.sh: $name FAILED (input saved under $build/artifacts/)" >&2
        status=1
    fi
done
echo "fuzz: $passed passed, $failed failed"
exit $status
