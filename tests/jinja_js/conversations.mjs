// Message lists and options every template of the corpus is rendered with (OpenAI-shaped
// messages as Hugging Face's apply_chat_template receives them: tool-call arguments as objects).

const weatherTool = {
  type: "function",
  function: {
    name: "get_current_weather",
    description: "Get the current weather in a given location",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["location"],
    },
  },
};
const addTool = {
  type: "function",
  function: {
    name: "add",
    description: "Add two integers",
    parameters: {
      type: "object",
      properties: { a: { type: "integer" }, b: { type: "integer", description: "second, \"quoted\" \u00e9" } },
      required: ["a", "b"],
    },
  },
};

const weatherCall = (id, location) => ({
  id,
  type: "function",
  function: { name: "get_current_weather", arguments: { location, unit: "celsius" } },
});

export const conversations = [
  { name: "single user", messages: [{ role: "user", content: "Hello, how are you?" }], add_generation_prompt: true },
  { name: "single user, no generation prompt", messages: [{ role: "user", content: "Hi" }], add_generation_prompt: false },
  {
    name: "system + user",
    messages: [
      { role: "system", content: "You are a pirate." },
      { role: "user", content: "Where is the treasure?" },
    ],
    add_generation_prompt: true,
  },
  {
    name: "multi-turn",
    messages: [
      { role: "user", content: "2+2?" },
      { role: "assistant", content: "4" },
      { role: "user", content: "and 3+3?" },
    ],
    add_generation_prompt: true,
  },
  {
    name: "system + multi-turn ending with the assistant",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Name a colour." },
      { role: "assistant", content: "Blue." },
      { role: "user", content: "Another?" },
      { role: "assistant", content: "Green." },
    ],
    add_generation_prompt: false,
  },
  {
    name: "whitespace, unicode and markup in content",
    messages: [
      { role: "user", content: "  héllo \u4e16\u754c \ud83d\ude00\n\n{{ not jinja }} <b>x</b>\t" },
      { role: "assistant", content: "\n<think>\nhmm\n</think>\n\nfine  " },
      { role: "user", content: "quote \" and backslash \\ end" },
    ],
    add_generation_prompt: true,
  },
  {
    name: "tools list",
    messages: [{ role: "user", content: "What's the weather like in Oslo?" }],
    tools: [weatherTool, addTool],
    add_generation_prompt: true,
  },
  {
    name: "tools + system",
    messages: [
      { role: "system", content: "You can call tools." },
      { role: "user", content: "Add 2 and 3." },
    ],
    tools: [addTool],
    add_generation_prompt: true,
  },
  {
    name: "tool call and result",
    messages: [
      { role: "user", content: "What's the weather like in Oslo?" },
      { role: "assistant", content: "", tool_calls: [weatherCall("call_1", "Oslo")] },
      { role: "tool", tool_call_id: "call_1", name: "get_current_weather", content: '{"temperature": 7}' },
    ],
    tools: [weatherTool],
    add_generation_prompt: true,
  },
  {
    name: "parallel tool calls, two results, then the answer",
    messages: [
      { role: "system", content: "Use tools when needed." },
      { role: "user", content: "Weather in Oslo and Paris?" },
      { role: "assistant", content: null, tool_calls: [weatherCall("c1", "Oslo"), weatherCall("c2", "Paris")] },
      { role: "tool", tool_call_id: "c1", name: "get_current_weather", content: "7 C" },
      { role: "tool", tool_call_id: "c2", name: "get_current_weather", content: "12 C" },
      { role: "assistant", content: "Oslo 7 C, Paris 12 C." },
      { role: "user", content: "Thanks!" },
    ],
    tools: [weatherTool],
    add_generation_prompt: true,
  },
  {
    name: "thinking off",
    messages: [
      { role: "user", content: "Why is the sky blue?" },
      { role: "assistant", content: "<think>\nRayleigh.\n</think>\n\nScattering." },
      { role: "user", content: "And sunsets?" },
    ],
    add_generation_prompt: true,
    enable_thinking: false,
  },
  {
    name: "thinking on, reasoning_content",
    messages: [
      { role: "user", content: "1+1?" },
      { role: "assistant", content: "2", reasoning_content: "Simple sum." },
      { role: "user", content: "2+2?" },
    ],
    add_generation_prompt: true,
    enable_thinking: true,
  },
];
