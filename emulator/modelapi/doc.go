// Package modelapi is a stand-in for the model APIs the agent presets talk
// to, in the spirit of the GitHub emulator beside it: the OpenAI Responses
// API (POST /v1/responses, streamed as Server-Sent Events, with the custom
// and function tool calls Codex makes) and the Anthropic Messages API
// (POST /v1/messages, streamed, with tool_use blocks) and the Gemini API
// (POST /v1beta/models/{model}:generateContent and :streamGenerateContent,
// with functionCall parts), scripted per test:
// "run this shell command", "apply this patch", "write this verdict",
// "report this usage". It records every request and the usage it reported,
// so a test can compare what specloop shows with what the API said.
//
// The package must not import specloop's own packages: it stands for the
// vendor's side.
package modelapi
