// Tool calling on the real server through the official openai npm client, with Qwen2.5's chat
// template (it shows the tools to the model and renders tool calls and results in the history).
// The model is the tiny SmallThinker-Nano, which was not trained on tools, so calls are forced
// with tool_choice: required / a named function. Oracle for the arguments: ajv, a JSON-schema
// validator independent of the server, on each call's arguments against its tool's schema.
import Ajv from "ajv";
import OpenAI from "openai";
import path from "node:path";
import { check, sourceDir, withServer } from "./harness.mjs";

const template = path.join(sourceDir, "tests/jinja_js/templates/Qwen__Qwen2.5-7B-Instruct.jinja");
const model = "nano";
// Bounded types only (enums, integers, booleans): a tiny model at temperature 0 could write a
// free string forever.
const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: {
        type: "object",
        properties: {
          city: { enum: ["Paris", "Tokyo", "Lima"] },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer" },
        },
        required: ["city", "unit"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      description: "Adds two integers",
      parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" }, exact: { type: "boolean" } }, required: ["a", "b"] },
    },
  },
];
const ajv = new Ajv({ strict: false });
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function checkCall(call, what, name) {
  check(typeof call.id === "string" && call.id.length > 0 && call.type === "function", `${what}: call shape ${JSON.stringify(call)}`);
  check(call.function.name in validators, `${what}: unknown tool ${call.function.name}`);
  if (name) check(call.function.name === name, `${what}: called ${call.function.name}, not ${name}`);
  const args = JSON.parse(call.function.arguments);
  const validate = validators[call.function.name];
  check(validate(args), `${what}: arguments ${call.function.arguments} do not validate: ${ajv.errorsText(validate.errors)}`);
  return args;
}

const question = [{ role: "user", content: "What is the weather in Paris, and what is 2 + 3?" }];

async function expect400(promise, param, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400, `${what}: expected a 400, got ${e.status ?? e}`);
    check(e.param === param, `${what}: error names ${e.param}, not ${param}`);
    return;
  }
  throw new Error(`${what}: accepted`);
}

await withServer(["--chat-template", template, "-c", "4096"], async (server) => {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none" });
  const base = { model, messages: question, tools, temperature: 0, max_tokens: 200 };

  // required: the reply is calls only, each valid for its tool.
  const req = await client.chat.completions.create({ ...base, tool_choice: "required", parallel_tool_calls: false });
  const choice = req.choices[0];
  check(choice.finish_reason === "tool_calls", `required: finish_reason ${choice.finish_reason}: ${JSON.stringify(choice)}`);
  check(choice.message.content === null, `required: content ${JSON.stringify(choice.message.content)}`);
  check(choice.message.tool_calls.length === 1, `required without parallel calls: ${choice.message.tool_calls.length} calls`);
  checkCall(choice.message.tool_calls[0], "required");

  // A named function, with parallel calls allowed.
  const named = await client.chat.completions.create({ ...base, tool_choice: { type: "function", function: { name: "add" } } });
  check(named.choices[0].finish_reason === "tool_calls", `named: finish_reason ${named.choices[0].finish_reason}`);
  check(named.choices[0].message.tool_calls.length >= 1, "named: no call");
  for (const c of named.choices[0].message.tool_calls) checkCall(c, "named", "add");

  // Streaming: the deltas (index, id and name first, then argument fragments) reassemble to the
  // same calls as the whole reply of the same request.
  for (const choiceArg of ["required", { type: "function", function: { name: "get_weather" } }]) {
    const whole = await client.chat.completions.create({ ...base, tool_choice: choiceArg });
    const stream = await client.chat.completions.create({ ...base, tool_choice: choiceArg, stream: true });
    const calls = [];
    let finish = null, fragments = 0;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      for (const d of c.delta?.tool_calls ?? []) {
        if (d.id) {
          check(calls[d.index] === undefined && d.function?.name, `stream: call ${d.index} opened twice or without a name`);
          calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: d.function.arguments ?? "" } };
        } else {
          check(calls[d.index] !== undefined, `stream: arguments for call ${d.index} before it opened`);
          calls[d.index].function.arguments += d.function.arguments;
          ++fragments;
        }
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
    check(finish === "tool_calls", `stream: finish_reason ${finish}`);
    check(fragments >= 2, `stream: the arguments came in ${fragments} fragments, not as they were generated`);
    const want = whole.choices[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]);
    const got = calls.map((c) => [c.function.name, c.function.arguments]);
    check(JSON.stringify(got) === JSON.stringify(want), `stream ${JSON.stringify(got)} != whole ${JSON.stringify(want)}`);
    got.forEach((_, i) => checkCall(calls[i], "stream"));
  }

  // The openai client's own stream helper assembles the same thing.
  const helper = client.chat.completions.stream({ ...base, tool_choice: "required" });
  const final = await helper.finalChatCompletion();
  checkCall(final.choices[0].message.tool_calls[0], "stream helper");

  // none: no call, plain content.
  const none = await client.chat.completions.create({ ...base, tool_choice: "none", max_tokens: 30 });
  check(!none.choices[0].message.tool_calls && typeof none.choices[0].message.content === "string", `none: ${JSON.stringify(none.choices[0])}`);
  check(!none.choices[0].message.content.includes("<tool_call>"), "none: the reply spells a tool call");

  // runTools over 3 turns: two forced calls (the runner sends the history with tool_calls and
  // role "tool" results back), then tool_choice none for the answer. The client's fetch is
  // wrapped to set tool_choice per turn, as an agent loop would. The runner refuses a reply cut
  // by max_tokens, and the tiny model may ramble: the answer turn is held to a one-value JSON
  // schema (response_format is allowed with tools when tool_choice is none), so it ends.
  let turn = 0;
  const seen = [];
  const forcing = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: "none",
    fetch: async (url, init) => {
      const body = JSON.parse(init.body);
      seen.push(body);
      body.tool_choice = ["required", { type: "function", function: { name: "add" } }, "none"][Math.min(turn, 2)];
      if (turn++ >= 2)
        body.response_format = { type: "json_schema", json_schema: { name: "answer", schema: { type: "object", properties: { answer: { enum: ["done"] } } } } };
      return fetch(url, { ...init, body: JSON.stringify(body) });
    },
  });
  const results = [];
  const runner = forcing.chat.completions.runTools({
    model, messages: question, temperature: 0, max_tokens: 200, parallel_tool_calls: false,
    tools: tools.map((t) => ({
      type: "function",
      function: {
        ...t.function,
        parse: JSON.parse,
        function: (args) => {
          results.push(args);
          return t.function.name === "add" ? { sum: args.a + args.b } : { temperature: 21, unit: args.unit };
        },
      },
    })),
  });
  const answer = await runner.finalContent();
  check(turn === 3, `runTools made ${turn} requests, not 3`);
  check(results.length === 2, `runTools ran ${results.length} tools`);
  check(answer === '{"answer":"done"}', `runTools final content ${answer}`);
  const last = seen[2].messages;
  check(last.filter((m) => m.role === "tool").length === 2 && last.filter((m) => m.tool_calls?.length).length === 2,
        `third request's history: ${JSON.stringify(last)}`);
  const msgs = runner.messages;
  check(msgs[msgs.length - 1].role === "assistant" && !msgs[msgs.length - 1].tool_calls?.length, "runTools did not end with an answer");

  // Invalid tools: a 400 naming the field.
  const fn = (f) => [{ type: "function", function: f }];
  await expect400(client.chat.completions.create({ model, messages: question, tools: fn({ parameters: {} }) }), "tools[0].function.name", "no name");
  await expect400(client.chat.completions.create({ model, messages: question, tools: fn({ name: "f", parameters: { type: "object", properties: { s: { type: "string", pattern: "a+" } } } }) }),
                  "tools[0].function.parameters", "unsupported schema keyword");
  await expect400(client.chat.completions.create({ model, messages: question, tools, tool_choice: { type: "function", function: { name: "nope" } } }),
                  "tool_choice.function.name", "unknown tool_choice name");
  await expect400(client.chat.completions.create({ model, messages: question, tool_choice: "required" }), "tool_choice", "required without tools");
});
console.log("test_tools: OK");
