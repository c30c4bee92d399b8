// Structured output through the official openai npm client: response_format json_schema with
// nested objects, arrays (minItems/maxItems), type lists and anyOf. Oracle: ajv validates every
// reply that ends normally against the same schema (no free strings, so the tiny model ends);
// unsupported keywords are a 400 naming them.
import Ajv from "ajv";
import OpenAI from "openai";
import { check, withServer } from "./harness.mjs";

const schema = {
  type: "object",
  properties: {
    answer: { type: "integer" },
    steps: {
      type: "array",
      minItems: 1,
      maxItems: 3,
      items: {
        type: "object",
        properties: { op: { enum: ["add", "sub"] }, args: { type: "array", items: { type: "number" }, maxItems: 2 } },
        required: ["op", "args"],
        additionalProperties: false,
      },
    },
    note: { type: ["integer", "null"] },
    extra: { anyOf: [{ type: "boolean" }, { type: "array", items: { enum: ["x", "y"] }, maxItems: 2 }] },
  },
  required: ["answer", "steps", "note", "extra"],
  additionalProperties: false,
};

await withServer(["--parallel", "1", "-c", "512", "--max-tokens", "300"], async ({ url }) => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 120000 });
  const validate = new Ajv({ strict: true }).compile(schema);
  let ended = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = await client.chat.completions.create({
      model: "smallthinker-nano",
      messages: [{ role: "user", content: "What is 12 + 30? Answer in JSON." }],
      response_format: { type: "json_schema", json_schema: { name: "sum", schema, strict: true } },
      max_tokens: 300, temperature: 1.0, seed,
    });
    const c = r.choices[0];
    if (c.finish_reason !== "stop") {
      console.log(`seed ${seed}: ${c.finish_reason}: ${c.message.content.slice(0, 200)}`);
      continue;
    }
    let doc;
    try {
      doc = JSON.parse(c.message.content);
    } catch (e) {
      throw new Error(`json_schema reply (seed ${seed}) does not parse: ${JSON.stringify(c.message.content)}: ${e}`);
    }
    check(validate(doc), `seed ${seed}: ${c.message.content} fails the schema: ${JSON.stringify(validate.errors)}`);
    ++ended;
  }
  check(ended >= 3, `only ${ended} of 6 json_schema replies ended within 300 tokens`);

  // A keyword outside the subset: a 400 that names it and where it is.
  try {
    await client.chat.completions.create({
      model: "smallthinker-nano", messages: [{ role: "user", content: "hi" }], max_tokens: 4,
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "array", items: { type: "string", pattern: "^a" } } } } } },
    });
    throw new Error("a schema with 'pattern' was accepted");
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400, `pattern: expected a 400, got ${e}`);
    check(/'pattern' at \$\.a\[\]/.test(e.message), `pattern: the error does not name the keyword and path: ${e.message}`);
  }
  console.log(`structured output: ${ended} of 6 replies ended, all valid`);
});
