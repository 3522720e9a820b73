/** `--otlp <endpoint>` parsing, apart from the exporter so the CLI does not load the OpenTelemetry SDK to parse it. */
import { InvalidArgumentError } from 'commander';

/**
 * http(s)://host:port[/path]: with no path, OTLP's `/v1/logs` is added (as
 * OTEL_EXPORTER_OTLP_ENDPOINT does); a path is kept as given.
 */
export function parseOtlpEndpoint(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL: '${value}' (e.g. http://127.0.0.1:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`not an http(s) URL: '${value}' (OTLP/HTTP)`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/logs';
  return u.toString();
}
