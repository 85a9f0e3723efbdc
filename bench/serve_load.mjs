// serve_load.mjs - a bounded load generator for `aio serve` (used by bench/serve_bench.sh).
//
//   node bench/serve_load.mjs --url http://127.0.0.1:PORT --model NAME --concurrency C
//        [--requests N] [--max-tokens T] [--key KEY]
//
// C workers each send streamed completions (greedy, distinct prompts so no two requests
// are the same) until N requests have been sent in all; nothing else, no retries, every
// request with a timeout. Prints one JSON line: requests, output tokens (from the usage
// chunk), wall seconds, output tokens/s, and p50/p99 of request latency and of
// time to first token. Needs only Node's built-in fetch (Node 18+).

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const url = args.url;
const model = args.model || 'auto';
const concurrency = Number(args.concurrency || 1);
const total = Number(args.requests || Math.max(2 * concurrency, 4));
const maxTokens = Number(args['max-tokens'] || 64);
const headers = { 'Content-Type': 'application/json' };
if (args.key) headers.Authorization = `Bearer ${args.key}`;

const SUBJECTS = ['a list', 'two numbers', 'a string', 'a matrix', 'a tree', 'a file', 'a queue', 'a graph'];

function prompt(i) {
  return `def process_${i}(data):\n    """Handle ${SUBJECTS[i % SUBJECTS.length]} number ${i}."""\n`;
}

function percentile(xs, p) {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function one(i) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model, prompt: prompt(i), max_tokens: maxTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    }),
    signal: AbortSignal.timeout(300000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = null;
  let tokens = 0;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6));
      if (ttft === null && chunk.choices && chunk.choices.length && chunk.choices[0].text) ttft = performance.now() - t0;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  const latency = performance.now() - t0;
  return { latency: latency / 1000, ttft: (ttft ?? latency) / 1000, tokens };
}

const results = [];
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < total) {
    const i = next++;
    results.push(await one(i));
  }
}));
const seconds = (performance.now() - t0) / 1000;
const tokens = results.reduce((a, r) => a + r.tokens, 0);
console.log(JSON.stringify({
  concurrency, requests: results.length, output_tokens: tokens, seconds: +seconds.toFixed(3),
  tokens_per_second: +(tokens / seconds).toFixed(1),
  latency_p50: +percentile(results.map((r) => r.latency), 50).toFixed(3),
  latency_p99: +percentile(results.map((r) => r.latency), 99).toFixed(3),
  ttft_p50: +percentile(results.map((r) => r.ttft), 50).toFixed(3),
  ttft_p99: +percentile(results.map((r) => r.ttft), 99).toFixed(3),
}));
