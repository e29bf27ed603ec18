// Load generator for benchmarks/throughput.py: N keep-alive connections sending SigV4-signed
// POSTs back to back, from Node.js so that the generator costs the 2-core machine little CPU.
// Signing is AWS Signature Version 4 (HMAC-SHA256 with the derived key cached per day), one
// fresh signature per request. Loopback only. Prints one JSON line with the counts.
//
// usage: node loadgen.mjs PORT PATHS(comma-separated) WINDOW_START_EPOCH_S WINDOW_END_EPOCH_S
//        (env: LG_ACCESS_KEY, LG_SECRET_KEY, LG_REGION, LG_SERVICE, LG_BODY, LG_HEADERS (JSON, unsigned
//        extra headers), LG_OK_STATUS (the status that counts as success, default 200))
import http from "node:http";
import crypto from "node:crypto";

const [port, pathsArg, startArg, endArg] = process.argv.slice(2);
const paths = pathsArg.split(",");
const windowStart = Number(startArg) * 1000;
const windowEnd = Number(endArg) * 1000;
const accessKey = process.env.LG_ACCESS_KEY;
const secretKey = process.env.LG_SECRET_KEY;
const region = process.env.LG_REGION || "us-east-1";
const service = process.env.LG_SERVICE || "lambda";
const body = Buffer.from(process.env.LG_BODY || '{"ping":1}');
const bodyHash = crypto.createHash("sha256").update(body).digest("hex");
const host = `127.0.0.1:${port}`;
const extraHeaders = JSON.parse(process.env.LG_HEADERS || "{}");
const okStatus = Number(process.env.LG_OK_STATUS || 200);
const MAX_REQUESTS_PER_CLIENT = 1_000_000;

let keyDate = "";
let signingKey = null;
const hmac = (key, data) => crypto.createHmac("sha256", key).update(data).digest();

function sign(path) {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = amzDate.slice(0, 8);
  if (date !== keyDate) {
    signingKey = hmac(hmac(hmac(hmac("AWS4" + secretKey, date), region), service), "aws4_request");
    keyDate = date;
  }
  const canonicalPath = encodeURI(path).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const canonical = ["POST", canonicalPath, "", `host:${host}\nx-amz-date:${amzDate}\n`, "host;x-amz-date", bodyHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, crypto.createHash("sha256").update(canonical).digest("hex")].join("\n");
  const signature = crypto.createHmac("sha256", signingKey).update(toSign).digest("hex");
  return {
    "x-amz-date": amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    "content-length": String(body.length),
    "content-type": "application/json",
    ...extraHeaders,
  };
}

let ok = 0, errors = 0;
const latencies = [];
const errorExamples = [];

async function client(path) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && Date.now() < windowEnd; i++) {
    const t0 = performance.now();
    const result = await new Promise((resolve) => {
      const req = http.request({ host: "127.0.0.1", port: Number(port), path, method: "POST", agent, headers: sign(path) }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), functionError: res.headers["x-amz-function-error"] }));
      });
      req.setNoDelay(true);
      req.on("error", (e) => resolve({ status: 0, body: Buffer.from(String(e)) }));
      req.end(body);
    });
    const now = Date.now();
    if (now < windowStart || now > windowEnd) continue;
    if (result.status === okStatus && !result.functionError) {
      ok++;
      if (latencies.length < 200000) latencies.push(performance.now() - t0);
    } else {
      errors++;
      if (errorExamples.length < 5) errorExamples.push(`${result.status} ${result.body.toString().slice(0, 200)}`);
    }
  }
  agent.destroy();
}

await Promise.all(paths.map(client));
const cpu = process.cpuUsage();
console.log(JSON.stringify({ ok, errors, latencies_ms: latencies, cpu_s: (cpu.user + cpu.system) / 1e6, error_examples: errorExamples }));
