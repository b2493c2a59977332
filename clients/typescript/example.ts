// How a web app uses the generated types; `tests/unit/test_typescript_types.py` type-checks it.
import type { components, paths } from "./upload-api";

type Proxy = components["schemas"]["ProxyView"];
type ProxyPage = paths["/v1/proxies"]["get"]["responses"][200]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];
type StatusEvent = components["schemas"]["StatusEvent"];

export async function readyProxies(base: string, token: string): Promise<Proxy[]> {
  const answer = await fetch(`${base}/v1/proxies?status=ready`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!answer.ok) {
    const problem = (await answer.json()) as Problem;
    throw new Error(`${problem.status} ${problem.title}: ${problem.detail ?? ""}`);
  }
  const page = (await answer.json()) as ProxyPage;
  return page.items;
}

export function follow(base: string, uuid: string, onEvent: (event: StatusEvent) => void): EventSource {
  // EventSource cannot send a header: serve the app and the API from one origin behind a proxy
  // that adds the token, or read the stream with fetch
  const source = new EventSource(`${base}/v1/proxies/${uuid}/events`);
  source.addEventListener("status", (message) => onEvent(JSON.parse(message.data) as StatusEvent));
  return source;
}
