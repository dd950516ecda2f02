// s3probe is what the end-to-end tests run in the browser: cross-origin
// requests to the proxy, each reported as the page's script saw it. A
// request the browser blocks is reported as {error: "TypeError: ..."}; one it
// let through as {status, body, headers}, where headers holds only what the
// script could read (the CORS-safelisted headers and those the proxy exposed).
'use strict';

window.s3probe = (() => {
  // request sends one fetch. init is fetch's, except that bodyFrom names a
  // same-origin URL whose bytes are sent as the body.
  async function request(url, init = {}) {
    const opts = {...init};
    if (opts.bodyFrom) {
      const r = await fetch(opts.bodyFrom);
      if (!r.ok) {
        throw new Error('page: cannot load ' + opts.bodyFrom + ': ' + r.status);
      }
      opts.body = await r.arrayBuffer();
      delete opts.bodyFrom;
    }
    let r;
    try {
      r = await fetch(url, opts);
    } catch (e) {
      return {error: e.name + ': ' + e.message};
    }
    const headers = {};
    r.headers.forEach((v, k) => { headers[k] = v; });
    return {status: r.status, body: await r.text(), headers};
  }

  // sign asks the page's own server (same origin, no CORS) for a presigned
  // URL, as a web app asks its backend.
  async function sign(signURL, params) {
    const r = await fetch(signURL + '?' + new URLSearchParams(params));
    const text = await r.text();
    if (!r.ok) {
      throw new Error('page: signing ' + JSON.stringify(params) + ' failed: ' + r.status + ' ' + text);
    }
    return text;
  }

  function xmlText(body, tag) {
    const doc = new DOMParser().parseFromString(body, 'application/xml');
    const el = doc.getElementsByTagName(tag)[0];
    return el ? el.textContent : null;
  }

  // multipart uploads the bytes at partURLs as the parts of one object:
  // CreateMultipartUpload, one UploadPart each, CompleteMultipartUpload, all
  // on presigned URLs from signURL. It stops at the first step the script
  // cannot complete, and returns every step as it saw it.
  async function multipart(signURL, partURLs) {
    const steps = {parts: []};
    steps.create = await request(await sign(signURL, {op: 'create'}), {method: 'POST'});
    if (steps.create.status !== 200) {
      return steps;
    }
    const uploadId = xmlText(steps.create.body, 'UploadId');
    if (!uploadId) {
      steps.problem = 'page: no UploadId in the CreateMultipartUpload answer';
      return steps;
    }
    steps.uploadId = uploadId;
    const etags = [];
    for (const [i, partURL] of partURLs.entries()) {
      const n = i + 1;
      const url = await sign(signURL, {op: 'part', uploadId, partNumber: n});
      const part = await request(url, {method: 'PUT', bodyFrom: partURL});
      delete part.body;
      steps.parts.push(part);
      if (part.status !== 200) {
        return steps;
      }
      // Completing needs every part's ETag: a page can only read it when the
      // bucket's CORS rule exposes it.
      const etag = part.headers.etag;
      if (!etag) {
        steps.problem = 'page: part ' + n + "'s ETag is not readable";
        return steps;
      }
      etags.push(etag);
    }
    const doc = '<CompleteMultipartUpload>' + etags.map((etag, i) =>
      '<Part><PartNumber>' + (i + 1) + '</PartNumber><ETag>' + etag + '</ETag></Part>').join('') +
      '</CompleteMultipartUpload>';
    steps.complete = await request(await sign(signURL, {op: 'complete', uploadId}), {method: 'POST', body: doc});
    return steps;
  }

  return {request, multipart};
})();
