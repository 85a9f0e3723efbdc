#!/usr/bin/env node
// bench/llamacpp/bench.mjs - llama.cpp's CPU decode and prefill speed on a GGUF file, measured
// the way `aio bench decode` / `aio bench prefill` (and llama-bench's tg N / pp P) measure them,
// so the two engines can be put side by side in one run.
//
//   node bench/llamacpp/bench.mjs --model FILE.gguf [--threads 2] [--decode 64] [--prefill 128]
//        [--repeat 3] [--decode-prompt 16] [--flash-attn auto|on|off] [--no-sample] [--seed 1]
//        [--threadpool persistent|disposable] [--poll 50] [--timer wall|llama]
//        [--modules DIR] [--name LABEL] [--header] [--json] [--verbose]
//
// llama.cpp comes from the npm package node-llama-cpp (prebuilt shared libraries, CPU variants
// chosen at run time by ggml; nothing is compiled). bench/llamacpp/install.sh [DIR] installs the
// pinned versions outside the repository; point at them with --modules DIR/node_modules (or
// NODE_PATH, which ES modules otherwise ignore; this script reads it itself). See README.md.
//
// What is timed (threads = --threads for both the batch and the single-token path):
//   prefill: one llama_decode of P random valid token ids (BOS first) into an empty KV cache,
//            batch = ubatch = P, logits for the last token only (llama-bench pp P).
//   decode:  after an untimed --decode-prompt prompt, N steps of: one-token llama_decode, then
//            greedy sampling of the next token (--no-sample: a random token instead, exactly
//            llama-bench tg N). The whole loop is timed, JS and N-API included.
// One untimed warm-up of each, then --repeat runs; the best (min time) is reported. The KV cache
// is cleared before every run. The binding's own lowest level is used (AddonContext:
// initBatch / addToBatch / decodeBatch / sampleToken), not the chat or completion layers.
// llama.cpp's internal timer (llama_perf_context) is read for the same runs, so the JS/N-API
// cost per decode step is reported too (js_overhead_us_per_token); --timer llama makes that
// timer (what llama-bench reports) the headline figure instead of the wall clock.
//
// Threads: node-llama-cpp never attaches a ggml threadpool, and its CPU backends have no OpenMP,
// so by default every llama_decode spawns and joins fresh worker threads. llama-bench instead
// attaches one persistent pool (poll 50). --threadpool persistent (the default) does the same:
// the script compiles tpshim.c (needs cc) once into the temp folder and re-runs itself with it
// in LD_PRELOAD; --threadpool disposable measures node-llama-cpp as it ships.
//
// Output: one Markdown table row (--header adds the header), or with --json one JSON object:
// {engine, model, threads, decode_tok_s, prefill_tok_s, cpu_variant, llama_cpp_version, ...}.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) process.stderr.write(`bench.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node bench/llamacpp/bench.mjs --model FILE.gguf [--threads 2] [--decode 64] [--prefill 128]\n' +
    '       [--repeat 3] [--decode-prompt 16] [--flash-attn auto|on|off] [--no-sample] [--seed 1]\n' +
    '       [--threadpool persistent|disposable] [--poll 50] [--timer wall|llama]\n' +
    '       [--modules DIR] [--name LABEL] [--header] [--json] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    model: null, threads: 2, decode: 64, prefill: 128, repeat: 3, decodePrompt: 16,
    flashAttn: 'auto', sample: true, seed: 1, modules: null, name: null,
    threadpool: 'persistent', poll: 50, timer: 'wall',
    header: false, json: false, verbose: false,
  };
  const num = (k, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${k} needs an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    switch (a) {
      case '--model': case '-m': o.model = val(); break;
      case '--threads': case '-t': o.threads = num(a, val(), 1); break;
      case '--decode': case '-n': o.decode = num(a, val(), 0); break;
      case '--prefill': case '-p': o.prefill = num(a, val(), 0); break;
      case '--repeat': case '-r': o.repeat = num(a, val(), 1); break;
      case '--decode-prompt': o.decodePrompt = num(a, val(), 1); break;
      case '--flash-attn': {
        const v = val();
        if (!['auto', 'on', 'off'].includes(v)) usage('--flash-attn is auto, on or off');
        o.flashAttn = v; break;
      }
      case '--no-sample': o.sample = false; break;
      case '--threadpool': {
        const v = val();
        if (!['persistent', 'disposable'].includes(v)) usage('--threadpool is persistent or disposable');
        o.threadpool = v; break;
      }
      case '--poll': o.poll = num(a, val(), 0); break;
      case '--timer': {
        const v = val();
        if (!['wall', 'llama'].includes(v)) usage('--timer is wall or llama');
        o.timer = v; break;
      }
      case '--seed': o.seed = num(a, val(), 0); break;
      case '--modules': o.modules = val(); break;
      case '--name': o.name = val(); break;
      case '--header': o.header = true; break;
      case '--json': o.json = true; break;
      case '--verbose': case '-v': o.verbose = true; break;
      case '--help': case '-h': usage();
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.model) usage('--model is required');
  if (!fs.existsSync(o.model)) usage(`no such file: ${o.model}`);
  if (o.decode === 0 && o.prefill === 0) usage('nothing to measure (--decode 0 --prefill 0)');
  return o;
}

// Finds node-llama-cpp: --modules DIR (a node_modules folder or a folder holding one); else each
// NODE_PATH entry, $AIO_LLAMACPP_DIR, ~/.cache/aion/llamacpp (install.sh's default), this
// folder, then the ordinary resolution from this file.
async function loadNodeLlamaCpp(modulesDir) {
  const candidates = [];
  const addDir = (d) => {
    if (!d) return;
    candidates.push(path.resolve(d, 'node-llama-cpp'));
    candidates.push(path.resolve(d, 'node_modules', 'node-llama-cpp'));
  };
  addDir(modulesDir);
  if (!modulesDir) {
    for (const d of (process.env.NODE_PATH || '').split(path.delimiter)) addDir(d);
    addDir(process.env.AIO_LLAMACPP_DIR);
    addDir(path.join(os.homedir(), '.cache', 'aion', 'llamacpp'));
    addDir(HERE);   // install.sh bench/llamacpp (node_modules/ is ignored there)
  }
  for (const dir of candidates) {
    const pj = path.join(dir, 'package.json');
    if (!fs.existsSync(pj)) continue;
    const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
    const entry = path.join(dir, 'dist', 'index.js');
    return { mod: await import(pathToFileURL(entry).href), version: pkg.version, dir };
  }
  if (modulesDir) usage(`node-llama-cpp not found under ${modulesDir}`);
  try {
    const mod = await import('node-llama-cpp');
    return { mod, version: 'unknown', dir: null };
  } catch {
    usage('node-llama-cpp not found: run bench/llamacpp/install.sh, or pass --modules DIR (its node_modules)');
  }
}

// Compiles tpshim.c into the temp folder (once per source text); returns the .so path, or null
// with the reason when there is no compiler.
function buildShim() {
  const src = path.join(HERE, 'tpshim.c');
  const text = fs.readFileSync(src);
  const hash = crypto.createHash('sha256').update(text).update(process.arch).digest('hex').slice(0, 12);
  const out = path.join(os.tmpdir(), `aio-llamacpp-tpshim-${hash}.so`);
  if (fs.existsSync(out)) return { so: out };
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-o', tmp, src, '-ldl', '-lpthread'], { encoding: 'utf8' });
  if (r.status !== 0) {
    try { fs.unlinkSync(tmp); } catch {}
    return { so: null, why: `${cc} failed: ${r.error?.message || r.stderr.trim()}` };
  }
  fs.renameSync(tmp, out);
  return { so: out };
}

// --threadpool persistent: re-run this script with the shim preloaded (the preload has to be
// there when the process starts). Returns only in the process that should do the measuring.
function ensureShim(opt) {
  if (opt.threadpool !== 'persistent' || process.env.AIO_LLAMACPP_SHIM === '1') return;
  const { so, why } = buildShim();
  if (!so) {
    process.stderr.write(`bench.mjs: no persistent threadpool (${why}); measuring with node-llama-cpp's per-decode threads\n`);
    opt.threadpool = 'disposable';
    return;
  }
  const report = path.join(os.tmpdir(), `aio-llamacpp-tp-${process.pid}.txt`);
  const env = {
    ...process.env,
    AIO_LLAMACPP_SHIM: '1',
    AIO_TP_REPORT: report,
    AIO_TP_POLL: String(opt.poll),
    LD_PRELOAD: [so, process.env.LD_PRELOAD].filter(Boolean).join(' '),
  };
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env });
  try { fs.unlinkSync(report); } catch {}
  if (r.error) {
    process.stderr.write(`bench.mjs: ${r.error.message}\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

// Small deterministic PRNG (mulberry32) so every run sees the same token ids.
function rng(seed) {
  let a = (seed >>> 0) || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  ensureShim(opt);
  const { mod, version: nlcVersion } = await loadNodeLlamaCpp(opt.modules);
  const { getLlama, LlamaLogLevel } = mod;

  // llama.cpp's log lines arrive asynchronously (a thread-safe function); keep the ones we parse.
  const logs = [];
  const logger = (level, message) => {
    logs.push(message);
    if (opt.verbose && level !== 'debug') process.stderr.write(`[llama.cpp ${level}] ${message}\n`);
  };

  const llama = await getLlama({
    gpu: false,                 // CPU only: the prebuilt CPU package, no CUDA/Vulkan/Metal
    build: 'never',             // never compile llama.cpp from source; fail instead
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: opt.threads,
    logLevel: LlamaLogLevel.debug,   // needed once, to see which CPU variant ggml loads
    logger,
  });
  await sleep(20);
  let cpuVariant = 'unknown';
  for (const l of logs) {
    const m = /loaded CPU backend from (\S+)/.exec(l);
    if (m) {
      const base = path.basename(m[1]);
      const v = /libggml-cpu-?([A-Za-z0-9_]*)\.so/.exec(base);
      cpuVariant = v ? (v[1] || 'generic') : base;
    }
  }
  const release = llama.llamaCppRelease?.release ?? 'unknown';

  let model;
  try {
    model = await llama.loadModel({ modelPath: opt.model, gpuLayers: 0 });
  } catch (e) {
    // node-llama-cpp's message is generic; llama.cpp's own log lines say which key or tensor.
    await sleep(50);
    const why = [...new Set(logs.filter((l) => !/llama_model_loader: - kv/.test(l) &&
      /error|fail|missing|invalid|unknown|wrong|not found|expected/i.test(l)))];
    process.stderr.write(`bench.mjs: llama.cpp cannot load ${opt.model}: ${e?.message || e}\n` +
      why.slice(-12).map((l) => `  llama.cpp: ${l.trim()}\n`).join(''));
    process.exit(1);
  }
  const am = model._model;                // the binding's AddonModel
  const bindings = llama._bindings;
  // From here on only the native side filters (3 = warn, 4 = info); the JS side stays at debug so
  // that queued lines are not dropped when they arrive after the native level went back to warn.
  const ADDON_WARN = 3, ADDON_INFO = 4;
  bindings.setLoggerLogLevel(ADDON_INFO);  // until the context exists (its set-up lines are read)

  // Vocabulary size from the GGUF metadata; random prompt tokens are drawn from the ids whose
  // llama.cpp attribute is NORMAL (so no control, unknown, unused or byte tokens); BOS first.
  const md = model.fileInfo.metadata;
  const nVocab = md?.tokenizer?.ggml?.tokens?.length ?? md?.[md?.general?.architecture]?.vocab_size;
  if (!nVocab) throw new Error('cannot tell the vocabulary size from the GGUF metadata');
  const ATTR_NORMAL = 1 << 2;
  const normal = [];
  for (let t = 0; t < nVocab; t++) if (am.getTokenAttributes(t) & ATTR_NORMAL) normal.push(t);
  const pool = normal.length >= 16 ? normal : Array.from({ length: nVocab }, (_, i) => i);
  const rand = rng(opt.seed);
  const bos = am.shouldPrependBosToken() ? am.tokenBos() : -1;
  const randomPrompt = (n) => {
    const a = new Uint32Array(n);
    for (let i = 0; i < n; i++) a[i] = pool[Math.floor(rand() * pool.length)];
    if (bos >= 0 && n > 0) a[0] = bos;
    return a;
  };

  const nCtxNeed = Math.max(opt.prefill, opt.decodePrompt + opt.decode + 1);
  const contextSize = Math.ceil(nCtxNeed / 256) * 256;
  const batchSize = Math.max(opt.prefill, opt.decodePrompt, 1);
  const ctx = new bindings.AddonContext(am, {
    contextSize, batchSize, sequences: 1, threads: opt.threads,
    flashAttention: opt.flashAttn === 'auto' ? 'auto' : opt.flashAttn === 'on',
    performanceTracking: true,
  });
  if (!(await ctx.init())) throw new Error('llama.cpp could not create the context');
  bindings.setLoggerLogLevel(ADDON_WARN);  // no log traffic while timing
  await sleep(20);
  let flashAttnResolved = opt.flashAttn;
  {
    const text = logs.join('\n');
    const m = /Flash Attention (enabled|disabled)\b/.exec(text) ||
      /Flash Attention was auto, set to (\w+)/i.exec(text) || /flash_attn\s*=\s*(\w+)/.exec(text);
    if (m) flashAttnResolved = opt.flashAttn === 'auto' && m[1] !== 'auto' ? `auto (${m[1]})` : m[1];
  }
  const sampler = new bindings.AddonSampler(am);
  sampler.applyConfig({ temperature: 0 });   // greedy

  // llama.cpp's own timer (llama_perf_context_print) comes through the logger, which delivers
  // asynchronously; the prints are only queued between runs (waiting there would let the
  // threadpool fall asleep) and parsed once every run is done.
  let marks = 0;
  function perfMark() {
    bindings.setLoggerLogLevel(ADDON_INFO);
    ctx.printTimings();                      // prints, then resets the counters
    bindings.setLoggerLogLevel(ADDON_WARN);
    return marks++;
  }
  function perfReset() {
    ctx.printTimings();                      // at warn level nothing is printed; counters reset
  }
  const PERF_RE = /prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens[\s\S]*?\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/g;
  async function perfCollect() {
    let blocks = [];
    for (let i = 0; i < 200; i++) {
      blocks = [...logs.join('').matchAll(PERF_RE)];
      if (blocks.length >= marks) break;
      await sleep(5);
    }
    return blocks.map((m) => ({
      promptMs: Number(m[1]), promptN: Number(m[2]), evalMs: Number(m[3]), evalN: Number(m[4]),
    }));
  }

  const one = Uint32Array.of(0);
  const logitOfOnly = Uint32Array.of(0);
  const lastLogit = (n) => Uint32Array.of(n - 1);

  // Prefill: P tokens into an empty cache, one batch; returns ms.
  async function prefillOnce(P) {
    ctx.disposeSequence(0);
    const toks = randomPrompt(P);
    ctx.initBatch(P);
    ctx.addToBatch(0, 0, toks, lastLogit(P));
    const t0 = now();
    await ctx.decodeBatch();
    return now() - t0;
  }

  // Decode: short prompt (untimed), then N one-token steps; returns ms for the N steps.
  async function decodeOnce(N) {
    ctx.disposeSequence(0);
    const K = opt.decodePrompt;
    ctx.initBatch(K);
    const idx = ctx.addToBatch(0, 0, randomPrompt(K), lastLogit(K));
    await ctx.decodeBatch();
    let tok = opt.sample ? await ctx.sampleToken(idx[0], sampler) : pool[Math.floor(rand() * pool.length)];
    const randoms = opt.sample ? null : Uint32Array.from({ length: N }, () => pool[Math.floor(rand() * pool.length)]);
    perfReset();
    const t0 = now();
    for (let i = 0; i < N; i++) {
      ctx.initBatch(1);
      one[0] = tok;
      const li = ctx.addToBatch(0, K + i, one, logitOfOnly);
      await ctx.decodeBatch();
      tok = opt.sample ? await ctx.sampleToken(li[0], sampler) : randoms[i];
      if (tok < 0) throw new Error('sampling failed');
    }
    return now() - t0;
  }

  logs.length = 0;
  const runs = [];   // {kind, ms, mark}
  if (opt.prefill > 0) {
    await prefillOnce(opt.prefill);                       // warm-up
    for (let r = 0; r < opt.repeat; r++) {
      perfReset();
      const ms = await prefillOnce(opt.prefill);
      runs.push({ kind: 'prefill', ms, mark: perfMark() });
    }
  }
  if (opt.decode > 0) {
    await decodeOnce(Math.min(opt.decode, 4));            // warm-up
    for (let r = 0; r < opt.repeat; r++) {
      const ms = await decodeOnce(opt.decode);
      runs.push({ kind: 'decode', ms, mark: perfMark() });
    }
  }
  const perf = await perfCollect();
  if (perf.length < marks) process.stderr.write('bench.mjs: llama.cpp timings missing; no overhead figures\n');
  const best = (kind) => {
    let b = null;
    for (const r of runs) {
      if (r.kind !== kind) continue;
      const p = perf[r.mark];
      const cMs = !p ? null : kind === 'prefill'
        ? (p.promptN === opt.prefill ? p.promptMs : null)
        : (p.evalN === opt.decode ? p.evalMs : null);
      if (opt.verbose) process.stderr.write(`${kind} run: ${r.ms.toFixed(2)} ms (llama.cpp ${cMs} ms)\n`);
      // the fastest run by the headline timer (wall, or llama.cpp's when asked and present)
      const key = opt.timer === 'llama' && cMs != null ? cMs : r.ms;
      if (!b || key < b.key) b = { key, ms: r.ms, cMs };
    }
    return b;
  };
  if (opt.timer === 'llama' && perf.length < marks) {
    process.stderr.write('bench.mjs: --timer llama without llama.cpp timings; using the wall clock\n');
    opt.timer = 'wall';
  }

  let prefill = null;
  const bp = best('prefill');
  if (bp) {
    prefill = {
      ms: bp.ms, c_ms: bp.cMs,
      wall_tok_s: opt.prefill / (bp.ms / 1e3), c_tok_s: bp.cMs ? opt.prefill / (bp.cMs / 1e3) : null,
    };
    prefill.tok_s = opt.timer === 'llama' ? prefill.c_tok_s : prefill.wall_tok_s;
  }

  let decode = null;
  const bd = best('decode');
  if (bd) {
    const cMs = bd.cMs;
    decode = {
      ms: bd.ms, wall_tok_s: opt.decode / (bd.ms / 1e3), ms_per_token: bd.ms / opt.decode,
      c_ms: cMs, c_tok_s: cMs ? opt.decode / (cMs / 1e3) : null,
      js_overhead_us_per_token: cMs != null ? ((bd.ms - cMs) * 1e3) / opt.decode : null,
    };
    decode.tok_s = opt.timer === 'llama' ? decode.c_tok_s : decode.wall_tok_s;
  }

  let threadpool = 'disposable (new threads every decode)';
  if (process.env.AIO_LLAMACPP_SHIM === '1') {
    let rep = '';
    try { rep = fs.readFileSync(process.env.AIO_TP_REPORT, 'utf8'); } catch {}
    const m = /attached (\d+) (\d+)/.exec(rep);
    if (m) threadpool = `persistent (${m[1]} threads, poll ${m[2]})`;
    else process.stderr.write('bench.mjs: the threadpool shim was preloaded but attached no pool\n');
  }
  const threadsUsed = ctx.getThreads();
  const flashAttn = flashAttnResolved;
  const modelType = model.typeDescription;
  const modelBytes = fs.statSync(opt.model).size;
  sampler.dispose();
  await ctx.dispose();
  await model.dispose();
  await llama.dispose();

  const r2 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
  const label = opt.name ?? path.basename(opt.model);
  const result = {
    engine: 'llama.cpp',
    model: label,
    model_path: path.resolve(opt.model),
    model_type: modelType,
    model_bytes: modelBytes,
    threads: threadsUsed,
    decode_tok_s: r2(decode?.tok_s),
    prefill_tok_s: r2(prefill?.tok_s),
    cpu_variant: cpuVariant,
    llama_cpp_version: release,
    node_llama_cpp_version: nlcVersion,
    decode_tokens: opt.decode,
    decode_prompt_tokens: opt.decodePrompt,
    decode_sampling: opt.sample ? 'greedy' : 'random tokens (llama-bench tg)',
    prefill_tokens: opt.prefill,
    repeat: opt.repeat,
    flash_attn: flashAttn,
    threadpool,
    timer: opt.timer,                                   // which clock decode_tok_s/prefill_tok_s use
    decode_wall_tok_s: r2(decode?.wall_tok_s),
    decode_c_tok_s: r2(decode?.c_tok_s),                // llama.cpp's own timer (llama-bench tg)
    decode_ms_per_token: r2(decode?.ms_per_token),      // wall
    js_overhead_us_per_token: r2(decode?.js_overhead_us_per_token),
    prefill_wall_tok_s: r2(prefill?.wall_tok_s),
    prefill_c_tok_s: r2(prefill?.c_tok_s),              // llama.cpp's own timer (llama-bench pp)
    prefill_ms: r2(prefill?.ms),
    prefill_c_ms: r2(prefill?.c_ms),
  };

  if (opt.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const f = (x) => (x == null ? '-' : x.toFixed(2));
  if (opt.header) {
    const clock = opt.timer === 'llama' ? ', llama.cpp timer' : '';
    process.stdout.write(`| engine | model | threads | prefill tok/s (pp${opt.prefill}${clock}) | decode tok/s (tg${opt.decode}${clock}) | JS overhead µs/token | cpu variant |\n`);
    process.stdout.write('|---|---|---:|---:|---:|---:|---|\n');
  }
  process.stdout.write(
    `| llama.cpp ${release} | ${label} | ${threadsUsed} | ${f(result.prefill_tok_s)} | ${f(result.decode_tok_s)} | ` +
    `${f(result.js_overhead_us_per_token)} | ${cpuVariant} |\n`);
}

main().catch((e) => {
  process.stderr.write(`bench.mjs: ${e?.stack || e}\n`);
  process.exit(1);
});
