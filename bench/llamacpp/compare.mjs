// compare.mjs - A-IO and llama.cpp side by side, in one run, on the same GGUF files.
//
//   node bench/llamacpp/compare.mjs --aio build/aio --modules DIR/node_modules [--rounds 3]
//        [--decode 64] [--prefill 128] [--threads 2] [--json] MODEL.gguf...
//   node bench/llamacpp/compare.mjs --aio build/aio --llama-bench PATH/llama-bench ... MODEL.gguf...
//
// llama.cpp is either the npm build through bench.mjs (--modules) or a llama-bench binary built
// from source (--llama-bench; `tg N` and `pp P`, one repetition per round after its warm-up).
//
// For each round and each model it runs, back to back, `aio bench decode`, llama.cpp's decode
// (bench.mjs), `aio bench prefill` and llama.cpp's prefill, and keeps the best of the rounds
// for each: this VM's memory bandwidth drifts by up to a third within minutes, so only runs
// interleaved this way compare the engines rather than two moments of the machine. The memory
// probe (`aio bench memory`) is taken in every round too, and the roofline column uses its best.
import { execFileSync } from 'node:child_process';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) process.stderr.write(`compare.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/llamacpp/compare.mjs --aio AIO --modules DIR [--rounds R] [--decode N]\n' +
                       '       [--prefill P] [--threads T] [--llama-bench PATH] [--json] MODEL.gguf...\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { aio: 'build/aio', modules: null, llamaBench: null, rounds: 3, decode: 64, prefill: 128, threads: 2, json: false, models: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    const int = () => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < 1) usage(`${a} wants a positive integer`);
      return v;
    };
    switch (a) {
      case '--aio': o.aio = val(); break;
      case '--modules': o.modules = val(); break;
      case '--llama-bench': o.llamaBench = val(); break;
      case '--rounds': o.rounds = int(); break;
      case '--decode': o.decode = int(); break;
      case '--prefill': o.prefill = int(); break;
      case '--threads': o.threads = int(); break;
      case '--json': o.json = true; break;
      case '-h': case '--help': usage();
      default:
        if (a.startsWith('-')) usage(`unknown option ${a}`);
        o.models.push(a);
    }
  }
  if (!o.models.length) usage('no model given');
  return o;
}

function runJson(cmd, args) {
  const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd} ${args.join(' ')} printed no JSON`);
  return JSON.parse(line);
}

function llamaBench(o, model, what) {
  const args = ['-m', model, '-t', String(o.threads), '-r', '1', '-o', 'json',
                '-n', what === 'decode' ? String(o.decode) : '0', '-p', what === 'prefill' ? String(o.prefill) : '0'];
  const out = execFileSync(o.llamaBench, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const rows = JSON.parse(out);
  const tps = rows.length ? rows[rows.length - 1].avg_ts : 0;
  return what === 'decode' ? { decode_tok_s: tps } : { prefill_tok_s: tps };
}

function llama(o, model, what) {
  if (o.llamaBench) return llamaBench(o, model, what);
  const args = [join(here, 'bench.mjs'), '--model', model, '--threads', String(o.threads), '--repeat', '1', '--json',
                '--decode', what === 'decode' ? String(o.decode) : '0', '--prefill', what === 'prefill' ? String(o.prefill) : '0'];
  if (o.modules) args.push('--modules', o.modules);
  return runJson(process.execPath, args);
}

function aio(o, model, what) {
  const t = ['-t', String(o.threads)];
  if (what === 'decode') return runJson(o.aio, ['bench', 'decode', '-m', model, '-n', String(o.decode), ...t, '--size', '512', '--json']);
  if (what === 'prefill') return runJson(o.aio, ['bench', 'prefill', '-m', model, '-p', String(o.prefill), ...t, '--runs', '1', '--json']);
  return runJson(o.aio, ['bench', 'memory', ...t, '--json']);
}

const o = parseArgs(process.argv.slice(2));
const best = {};  // model -> { aio_decode, llama_decode, aio_prefill, llama_prefill, weight_bytes }
let memory = 0;
for (let round = 0; round < o.rounds; round++) {
  for (const model of o.models) {
    const b = (best[model] ??= { aio_decode: 0, llama_decode: 0, aio_prefill: 0, llama_prefill: 0, weight_bytes: 0, type: '' });
    const mem = aio(o, model, 'memory');
    memory = Math.max(memory, mem.memory.best_gbps);
    const ad = aio(o, model, 'decode');
    b.weight_bytes = ad.weight_bytes_per_token;
    b.type = ad.model?.type ?? '';
    b.aio_decode = Math.max(b.aio_decode, ad.tokens_per_second);
    b.llama_decode = Math.max(b.llama_decode, llama(o, model, 'decode').decode_tok_s);
    b.aio_prefill = Math.max(b.aio_prefill, aio(o, model, 'prefill').tokens_per_second);
    b.llama_prefill = Math.max(b.llama_prefill, llama(o, model, 'prefill').prefill_tok_s);
    process.stderr.write(`round ${round + 1}/${o.rounds} ${basename(model)} done\n`);
  }
}

const rows = o.models.map((model) => {
  const b = best[model];
  const gbps = (tps) => (tps * b.weight_bytes) / 1e9;
  return {
    model: basename(model), type: b.type, memory_gbps: memory,
    aio_decode_tok_s: b.aio_decode, llama_decode_tok_s: b.llama_decode, decode_ratio: b.aio_decode / b.llama_decode,
    aio_decode_pct_roofline: (100 * gbps(b.aio_decode)) / memory, llama_decode_pct_roofline: (100 * gbps(b.llama_decode)) / memory,
    aio_prefill_tok_s: b.aio_prefill, llama_prefill_tok_s: b.llama_prefill, prefill_ratio: b.aio_prefill / b.llama_prefill,
  };
});
if (o.json) {
  console.log(JSON.stringify({ threads: o.threads, rounds: o.rounds, decode_tokens: o.decode, prefill_tokens: o.prefill, rows }));
} else {
  const f = (x, d = 1) => x.toFixed(d);
  console.log(`best of ${o.rounds} interleaved rounds, ${o.threads} threads; memory probe best ${f(memory)} GB/s\n`);
  console.log(`| model | type | decode A-IO tok/s | llama.cpp | A-IO/llama.cpp | % roofline A-IO / llama.cpp | prefill(${o.prefill}) A-IO | llama.cpp | A-IO/llama.cpp |`);
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(`| ${r.model} | ${r.type} | ${f(r.aio_decode_tok_s)} | ${f(r.llama_decode_tok_s)} | ${f(r.decode_ratio, 2)}x | ` +
                `${f(r.aio_decode_pct_roofline, 0)}% / ${f(r.llama_decode_pct_roofline, 0)}% | ${f(r.aio_prefill_tok_s)} | ` +
                `${f(r.llama_prefill_tok_s)} | ${f(r.prefill_ratio, 2)}x |`);
}
