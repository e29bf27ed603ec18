// SigV4 in the browser (WebCrypto): the console signs every API call itself, so the secret key
// never leaves this tab. Same algorithm as botocore's SigV4Auth for the services lambent serves.
const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(data) {
  return hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? enc.encode(data) : data));
}

async function hmac(key, msg) {
  const raw = typeof key === "string" ? enc.encode(key) : key;
  const k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, enc.encode(msg));
}

// RFC 3986 percent-encoding of everything but the unreserved characters (as botocore's quote).
export function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

export function cryptoAvailable() {
  return typeof crypto !== "undefined" && crypto.subtle !== undefined && window.isSecureContext;
}

// The canonical URI of a non-S3 service: each segment of the (already encoded) path encoded again.
function canonicalUri(path) {
  return path.split("/").map(uriEncode).join("/");
}

function canonicalQuery(query) {
  return Object.entries(query)
    .map(([k, v]) => [uriEncode(k), uriEncode(String(v))])
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

// Signs and sends one request; `path` is already percent-encoded, `query` an object.
export async function signedFetch(creds, { service, method = "GET", path = "/", query = {}, headers = {}, body = "" }) {
  const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v);
  h["host"] = location.host;
  h["x-amz-date"] = amzDate;
  if (creds.sessionToken) h["x-amz-security-token"] = creds.sessionToken;
  const names = Object.keys(h).sort();
  const signedHeaders = names.join(";");
  const canonicalHeaders = names.map((n) => `${n}:${h[n].trim().replace(/\s+/g, " ")}\n`).join("");
  const qs = canonicalQuery(query);
  const canonicalRequest = [method, canonicalUri(path), qs, canonicalHeaders, signedHeaders, await sha256Hex(body)].join("\n");
  const scope = `${day}/${creds.region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256Hex(canonicalRequest)].join("\n");
  let key = await hmac("AWS4" + creds.secretAccessKey, day);
  key = await hmac(key, creds.region);
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  const signature = hex(await hmac(key, toSign));
  delete h["host"]; // the browser sends it (a forbidden header name for fetch)
  h["authorization"] = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return fetch(path + (qs ? "?" + qs : ""), {
    method,
    headers: h,
    body: method === "GET" || method === "HEAD" ? undefined : body,
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
  });
}
