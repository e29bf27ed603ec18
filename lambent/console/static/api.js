// lambent's AWS APIs as the console uses them: Lambda (rest-json), CloudWatch Logs (json 1.1),
// CloudWatch metrics (json 1.0, scope "monitoring"), STS (query). Every call is signed in the tab.
import { signedFetch, uriEncode } from "./sigv4.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(resp) {
  const text = await resp.text();
  let code = resp.headers.get("x-amzn-errortype") || "";
  let message = "";
  try {
    const doc = JSON.parse(text);
    code = code || doc.__type || doc.Type || doc.code || "";
    message = doc.message || doc.Message || "";
  } catch {
    const xml = new DOMParser().parseFromString(text, "application/xml");
    code = code || xml.querySelector("Code")?.textContent || "";
    message = xml.querySelector("Message")?.textContent || text.slice(0, 200);
  }
  return new ApiError(resp.status, code.split(":")[0].split("#").pop(), message);
}

export class Api {
  constructor(creds) {
    this.creds = creds;
  }

  async json(req) {
    const resp = await signedFetch(this.creds, req);
    if (!resp.ok) throw await errorOf(resp);
    const text = await resp.text();
    return text ? JSON.parse(text) : {};
  }

  // -- STS -----------------------------------------------------------------------------------
  async callerIdentity() {
    const resp = await signedFetch(this.creds, {
      service: "sts", method: "POST", path: "/",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: "Action=GetCallerIdentity&Version=2011-06-15",
    });
    if (!resp.ok) throw await errorOf(resp);
    const xml = new DOMParser().parseFromString(await resp.text(), "application/xml");
    const pick = (tag) => xml.getElementsByTagName(tag)[0]?.textContent || "";
    return { arn: pick("Arn"), account: pick("Account"), userId: pick("UserId") };
  }

  // -- Lambda --------------------------------------------------------------------------------
  async listFunctions() {
    const out = [];
    let marker = null;
    for (let page = 0; page < 20; page++) {
      const query = { MaxItems: "50" };
      if (marker) query.Marker = marker;
      const r = await this.json({ service: "lambda", path: "/2015-03-31/functions/", query });
      out.push(...(r.Functions || []));
      marker = r.NextMarker;
      if (!marker) break;
    }
    return out;
  }

  fn(name) {
    return "/2015-03-31/functions/" + uriEncode(name);
  }

  getFunction(name) {
    return this.json({ service: "lambda", path: this.fn(name) });
  }

  listVersions(name) {
    return this.json({ service: "lambda", path: this.fn(name) + "/versions", query: { MaxItems: "50" } });
  }

  listAliases(name) {
    return this.json({ service: "lambda", path: this.fn(name) + "/aliases", query: { MaxItems: "50" } });
  }

  async invoke(name, payload) {
    const resp = await signedFetch(this.creds, {
      service: "lambda", method: "POST", path: this.fn(name) + "/invocations",
      headers: { "content-type": "application/json", "x-amz-log-type": "Tail" }, body: payload,
    });
    if (!resp.ok) throw await errorOf(resp);
    const tail = resp.headers.get("x-amz-log-result");
    return {
      status: resp.status,
      functionError: resp.headers.get("x-amz-function-error"),
      executedVersion: resp.headers.get("x-amz-executed-version"),
      payload: await resp.text(),
      log: tail ? new TextDecoder().decode(Uint8Array.from(atob(tail), (c) => c.charCodeAt(0))) : "",
    };
  }

  // -- lambent's own API (deployments, the async queue) -----------------------------------------
  lambent(method, path, query = {}, body = "") {
    return this.json({
      service: "lambent", method, path: "/lambent/2026-11-27" + path, query,
      headers: body ? { "content-type": "application/json" } : {}, body,
    });
  }

  listDeployments(name) {
    return this.lambent("GET", "/deployments", { FunctionName: name });
  }

  asyncQueues(name) {
    return this.lambent("GET", "/async-event-queues", { FunctionName: name });
  }

  undeliverable(name) {
    return this.lambent("GET", "/undeliverable-records", { FunctionName: name, MaxItems: "100" });
  }

  redrive(ids) {
    return this.lambent("POST", "/undeliverable-records/redrive", {}, JSON.stringify({ RecordIds: ids }));
  }

  usage(name, since) {
    return this.json({ service: "lambent", path: "/usage", query: { function: name, since, by: "version" } });
  }

  // -- X-Ray -------------------------------------------------------------------------------------
  xray(path, params) {
    return this.json({
      service: "xray", method: "POST", path, headers: { "content-type": "application/json" }, body: JSON.stringify(params),
    });
  }

  traceSummaries(name, startS, endS) {
    return this.xray("/TraceSummaries", { StartTime: startS, EndTime: endS, FilterExpression: `service("${name.replace(/"/g, "")}")` });
  }

  traces(ids) {
    return this.xray("/Traces", { TraceIds: ids });
  }

  // -- CloudWatch Logs ---------------------------------------------------------------------------
  logs(op, params) {
    return this.json({
      service: "logs", method: "POST", path: "/",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "Logs_20140328." + op },
      body: JSON.stringify(params),
    });
  }

  filterLogEvents(group, { startTime, pattern, nextToken, limit = 200 }) {
    const p = { logGroupName: group, startTime, limit };
    if (pattern) p.filterPattern = pattern;
    if (nextToken) p.nextToken = nextToken;
    return this.logs("FilterLogEvents", p);
  }

  // -- CloudWatch metrics ---------------------------------------------------------------------
  metricData(queries, startS, endS) {
    return this.json({
      service: "monitoring", method: "POST", path: "/",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "GraniteServiceVersion20100801.GetMetricData",
        "x-amzn-query-mode": "true",
      },
      body: JSON.stringify({ MetricDataQueries: queries, StartTime: startS, EndTime: endS, ScanBy: "TimestampAscending" }),
    });
  }
}

// One GetMetricData query of AWS/Lambda for a function.
export function lambdaQuery(id, metric, fnName, stat, period) {
  return {
    Id: id,
    ReturnData: true,
    MetricStat: {
      Metric: { Namespace: "AWS/Lambda", MetricName: metric, Dimensions: [{ Name: "FunctionName", Value: fnName }] },
      Period: period,
      Stat: stat,
    },
  };
}
