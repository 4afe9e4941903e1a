/**
 * Where a fleet's shared store is: `RANKWRIGHT_STORE=s3://bucket/prefix`, plus the standard AWS variables for the
 * endpoint and region (AWS_ENDPOINT_URL, AWS_REGION). Credentials are left to the SDK's standard chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles): they are read by the process that uses the
 * store, never put in a location, a message or a log. Every refusal says which part is wrong without echoing a value
 * that could be a secret.
 */

export interface S3Location {
  kind: 's3';
  bucket: string;
  /** '' or segments ending in '/': every key the store writes starts with it. */
  prefix: string;
  /** AWS_ENDPOINT_URL (MinIO, R2, GCS's S3 interface); absent for AWS S3 itself. Addressed path-style when given. */
  endpoint?: string;
  region: string;
}

const FROM = 'RANKWRIGHT_STORE';
const SHAPE = 'expected s3://BUCKET/PREFIX';
/** S3's rules for new buckets, which R2 and GCS's S3 interface share: 3-63 of a-z 0-9 . -, a letter or digit at each end. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Prefix segments: plain names, so a key never depends on a service's escaping rules. */
const SEGMENT = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$/;
/** When no AWS_REGION is set: AWS's default; MinIO ignores it, R2 accepts it as an alias of `auto`. */
const DEFAULT_REGION = 'us-east-1';

/** The configured shared store, or undefined when RANKWRIGHT_STORE is unset (the home alone, as on one machine). */
export function storeLocation(env: NodeJS.ProcessEnv = process.env): S3Location | undefined {
  const raw = env.RANKWRIGHT_STORE?.trim();
  if (!raw) return undefined;
  return parseStoreUrl(raw, env);
}

/** Parses an `s3://bucket/prefix` URL (from RANKWRIGHT_STORE or `--to`), with the endpoint and region from `env`. */
export function parseStoreUrl(raw: string, env: NodeJS.ProcessEnv = process.env, from = FROM): S3Location {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw)?.[1];
  if (!scheme) throw new Error(`${from} is not a URL (${SHAPE}; unset it to keep artifacts in RANKWRIGHT_HOME only)`);
  if (scheme.toLowerCase() !== 's3') throw new Error(`${from} has scheme '${scheme}:': only s3:// is supported (${SHAPE})`);
  if (!raw.startsWith('s3://')) throw new Error(`${from} must start with s3:// (${SHAPE})`);
  const rest = raw.slice('s3://'.length);
  if (/[?#]/.test(rest)) throw new Error(`${from} has a query or fragment (? or #): ${SHAPE}, nothing after the prefix`);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  // Checked before anything else is quoted: what precedes an @ may be a key and secret.
  if (authority.includes('@'))
    throw new Error(`${from} must not carry credentials (user@ before the bucket): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead`);
  if (!authority) throw new Error(`${from} names no bucket (${SHAPE})`);
  if (authority.includes(':'))
    throw new Error(`${from} has a port after the bucket: the bucket is a name, not a host; set AWS_ENDPOINT_URL for the server`);
  if (!BUCKET.test(authority) || authority.includes('..'))
    throw new Error(
      `${from} names bucket ${JSON.stringify(authority.slice(0, 80))}: a bucket name is 3 to 63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit`,
    );
  const segments = path.split('/');
  if (segments.at(-1) === '') segments.pop(); // one trailing slash is the usual way to write a folder
  if (segments.length === 1 && segments[0] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') throw new Error(`${from} has an empty prefix segment (//): write the prefix as name/name/`);
    if (segment === '.' || segment === '..') throw new Error(`${from} has a '${segment}' prefix segment: the prefix is a plain path, no . or ..`);
    if (!SEGMENT.test(segment))
      throw new Error(
        `${from} has prefix segment ${JSON.stringify(segment.slice(0, 80))}: use letters, digits and . _ = - (not starting with a dot)`,
      );
  }
  const prefix = segments.length ? `${segments.join('/')}/` : '';
  const endpoint = endpointOf(env);
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || DEFAULT_REGION;
  return { kind: 's3', bucket: authority, prefix, region, ...(endpoint ? { endpoint } : {}) };
}

function endpointOf(env: NodeJS.ProcessEnv): string | undefined {
  const raw = (env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL)?.trim();
  if (!raw) return undefined;
  const name = env.AWS_ENDPOINT_URL_S3?.trim() ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} is not a URL (expected http(s)://HOST[:PORT], e.g. http://127.0.0.1:9000)`);
  }
  if (url.username || url.password) throw new Error(`${name} must not carry credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} has scheme '${url.protocol}': expected http:// or https://`);
  if (url.search || url.hash) throw new Error(`${name} has a query or fragment: expected http(s)://HOST[:PORT]`);
  // Path-style addressing puts the bucket after the endpoint's path, so a path of its own would be a second prefix.
  if (url.pathname !== '/' && url.pathname !== '')
    throw new Error(`${name} has a path (${url.pathname}): expected http(s)://HOST[:PORT]; put a key prefix in RANKWRIGHT_STORE`);
  return url.origin;
}

/** `s3://bucket/prefix` (at endpoint): what messages and logs say about the store; never a credential. */
export function describeLocation(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}${location.endpoint ? ` at ${location.endpoint}` : ''}`;
}
