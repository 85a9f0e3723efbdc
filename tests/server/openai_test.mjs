// openai_test.mjs - `aio serve` driven by the official OpenAI Node client.
//
// Started by tests/server/run_test.sh with the server's port, model and key in the
// environment (AIO_PORT, AIO_MODEL, AIO_API_KEY). Checks what a real client relies on:
// the model list, completions and chat completions (plain and streamed, with usage),
// greedy determinism and lossless lookup, seeded sampling, logprobs, stop sequences
// (cut exactly, also when streamed), errors surfacing as the client's APIError
// classes, and a stream aborted mid-way that frees its slot while the server keeps
// serving. Every request has a timeout and no retries, so a hang fails instead of
// blocking CI.
import OpenAI from 'openai';

const port = process.env.AIO_PORT;
const model = process.env.AIO_MODEL || 'aio-small';
const apiKey = process.env.AIO_API_KEY || 'none';
const baseURL = `http://127.0.0.1:${port}/v1`;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30000 });

let failures = 0;
function check(cond, what) {
  if (cond) console.log(`ok - ${what}`);
  else {
    failures++;
    console.log(`FAIL - ${what}`);
  }
}

async function test(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures++;
    console.log(`FAIL - ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

const PROMPT = 'def fibonacci(n):';
const CHAT = [{ role: 'user', content: 'Write a Python function that adds two numbers.' }];

async function completion(extra = {}) {
  return client.completions.create({ model, prompt: PROMPT, max_tokens: 24, temperature: 0, ...extra });
}

async function streamText(stream) {
  let text = '';
  let usage = null;
  let finish = null;
  let role = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta) {
        if (c.delta.role) role = c.delta.role;
        if (c.delta.content) text += c.delta.content;
      } else if (c.text) text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, usage, finish, role };
}

async function metric(series) {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const body = await r.text();
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

await test('models', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  check(ids.includes(model) && ids.includes('auto'), `models.list has ${model} and auto (${ids.join(', ')})`);
});

let base = null;
await test('completion', async () => {
  base = await completion();
  const c = base.choices[0];
  check(typeof c.text === 'string' && c.text.length > 0, `completion text ${JSON.stringify(c.text)}`);
  check(['length', 'stop'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
  check(base.usage.prompt_tokens > 0 && base.usage.completion_tokens > 0 && base.usage.completion_tokens <= 24,
    `usage ${JSON.stringify(base.usage)}`);
  check(base.usage.total_tokens === base.usage.prompt_tokens + base.usage.completion_tokens, 'total_tokens adds up');
  check(base.aio && base.aio.model === model, 'extra aio field names the model');
  const again = await completion({ model: 'auto' });
  check(again.choices[0].text === c.text, 'greedy is deterministic (and auto serves the same model here)');
  const lookup = await completion({ aio_strategy: 'lookup' });
  check(lookup.choices[0].text === c.text && lookup.aio.strategy === 'lookup',
    `lookup is lossless (drafted ${lookup.aio.drafted}, accepted ${lookup.aio.accepted})`);
});

await test('seeded sampling', async () => {
  const a = await completion({ temperature: 0.9, top_p: 0.95, seed: 42 });
  const b = await completion({ temperature: 0.9, top_p: 0.95, seed: 42 });
  check(a.choices[0].text === b.choices[0].text, 'the same seed gives the same sample');
});

await test('logprobs', async () => {
  const r = await completion({ logprobs: 1, max_tokens: 8 });
  const lp = r.choices[0].logprobs;
  check(lp && lp.token_logprobs.length === r.usage.completion_tokens && lp.token_logprobs.every((x) => x <= 0),
    `one logprob <= 0 per token (${lp && lp.token_logprobs.length} for ${r.usage.completion_tokens})`);
});

let chatText = null;
let chatUsage = null;
await test('chat', async () => {
  const r = await client.chat.completions.create({ model, messages: CHAT, max_tokens: 24, temperature: 0 });
  const m = r.choices[0].message;
  chatText = m.content;
  chatUsage = r.usage;
  check(r.object === 'chat.completion' && m.role === 'assistant' && typeof m.content === 'string',
    `chat answer ${JSON.stringify(m.content)}`);
  check(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 24, `chat usage ${JSON.stringify(r.usage)}`);
});

await test('streaming chat with usage', async () => {
  const stream = await client.chat.completions.create({
    model, messages: CHAT, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  const s = await streamText(stream);
  check(s.role === 'assistant', 'the first chunk names the assistant');
  check(s.text === chatText, 'streamed text equals the plain answer');
  check(s.usage && chatUsage && s.usage.completion_tokens === chatUsage.completion_tokens &&
    s.usage.prompt_tokens === chatUsage.prompt_tokens, `stream usage ${JSON.stringify(s.usage)}`);
  check(['length', 'stop'].includes(s.finish), `stream finish_reason ${s.finish}`);
});

await test('stop sequences', async () => {
  const text = base.choices[0].text;
  // A stop taken from the greedy answer (plain ASCII, not at its very start): the answer must
  // end right before its first occurrence, whatever the token boundaries inside it are.
  let at = -1;
  let stop = null;
  for (let i = Math.floor(text.length / 3); i + 3 <= text.length && at <= 0; i++) {
    const s = text.slice(i, i + 3);
    if (/^[\x20-\x7e]{3}$/.test(s) && s.trim().length > 0) {
      at = text.indexOf(s);
      stop = s;
    }
  }
  if (at < 0) {
    check(true, 'stop sequences: no usable substring in this answer (skipped)');
    return;
  }
  const r = await completion({ stop: [stop, 'never-in-this-text'] });
  check(r.choices[0].text === text.slice(0, at) && r.choices[0].finish_reason === 'stop',
    `stop ${JSON.stringify(stop)} cuts before it: ${JSON.stringify(r.choices[0].text)}`);
  const s = await streamText(await completion({ stop, stream: true }));
  check(s.text === text.slice(0, at) && s.finish === 'stop', 'stop is cut the same way when streamed');
});

await test('errors', async () => {
  try {
    await completion({ max_tokens: -5 });
    check(false, 'max_tokens -5 is refused');
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400 && e.param === 'max_tokens',
      `max_tokens -5 -> 400 APIError (${e.status} ${e.message})`);
  }
  try {
    await completion({ model: 'no-such-model' });
    check(false, 'an unknown model is refused');
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError, `unknown model -> 404 (${e.status})`);
  }
  try {
    await client.chat.completions.create({ model, messages: [{ role: 'user' }] });
    check(false, 'a message without content is refused');
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError, `message without content -> 400 (${e.status})`);
  }
});

await test('disconnect', async () => {
  const series = `aio_active_slots{model="${model}"}`;
  const controller = new AbortController();
  const stream = await client.completions.create(
    { model, prompt: PROMPT, max_tokens: 400, temperature: 0, stream: true },
    { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const chunk of stream) {
      if (chunk.choices.length && ++chunks === 3) controller.abort();
    }
  } catch (e) {
    // the abort surfaces here
  }
  check(chunks >= 3, `read ${chunks} chunks before aborting`);
  let active = NaN;
  for (let i = 0; i < 100 && active !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    active = await metric(series);
  }
  check(active === 0, `the aborted stream's slot is free (${series} ${active})`);
  const r = await completion({ max_tokens: 4 });
  check(r.choices[0].text.length > 0, 'the server keeps serving after a disconnect');
});

console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
