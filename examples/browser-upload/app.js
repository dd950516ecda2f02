// The browser-upload example: upload a file to S3 on a presigned PUT URL,
// list the bucket and read the file back, through caddy-s3-cors. Plain
// JavaScript, no build step. Presigned URLs come from this page's own server
// (GET presign?key=...&type=..., as a web app would ask its backend) or are
// pasted into the form.
'use strict';

const $ = (id) => document.getElementById(id);

function log(line) {
  $('log').textContent += line + '\n';
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

// blocked explains a fetch that rejected: the browser hides the reason from
// scripts and writes it to the console.
function blocked(what, err) {
  return new Error(what + ' was blocked by the browser (' + err.message + '). ' +
    'Usually the bucket has no CORS rule for this origin (' + location.origin + '), ' +
    'this method or one of the request headers; the browser console says which.');
}

async function send(what, url, init) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (err) {
    throw blocked(what, err);
  }
  log(what + ': ' + r.status);
  if (!r.ok) {
    const body = await r.text();
    const code = new DOMParser().parseFromString(body, 'application/xml').getElementsByTagName('Code')[0];
    throw new Error(what + ' failed: ' + r.status + (code ? ' ' + code.textContent : '') + '\n' + body);
  }
  return r;
}

async function presignedURLs(file) {
  if ($('put-url').value) {
    return {key: file.name, put: $('put-url').value, get: $('get-url').value, list: $('list-url').value};
  }
  const params = new URLSearchParams({key: file.name, type: file.type});
  const r = await fetch('presign?' + params);
  if (!r.ok) {
    throw new Error('this page\'s server gave no presigned URLs (' + r.status + ' ' + (await r.text()).trim() +
      '); paste them into the form instead');
  }
  return r.json();
}

async function upload(file) {
  const urls = await presignedURLs(file);
  $('key').textContent = urls.key;

  // A PUT is not a "simple" request: the browser first sends a preflight
  // OPTIONS, which caddy-s3-cors answers from the bucket's rules.
  const headers = file.type ? {'Content-Type': file.type} : {};
  const put = await send('PUT ' + urls.key, urls.put, {method: 'PUT', body: file, headers});
  $('put-status').textContent = put.status;
  const etag = put.headers.get('ETag');
  $('etag').textContent = etag === null ? '(not readable: the rule has no ExposeHeader ETag)' : etag;

  if (urls.list) {
    const list = await send('List bucket', urls.list);
    const doc = new DOMParser().parseFromString(await list.text(), 'application/xml');
    $('listing').replaceChildren(...Array.from(doc.getElementsByTagName('Key'), (k) => {
      const li = document.createElement('li');
      li.textContent = k.textContent;
      if (k.textContent === urls.key) {
        li.className = 'mine';
      }
      return li;
    }));
  }

  if (urls.get) {
    const got = await send('GET ' + urls.key, urls.get);
    const rows = [];
    got.headers.forEach((value, name) => {
      const tr = document.createElement('tr');
      tr.dataset.name = name;
      for (const text of [name, value]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      rows.push(tr);
    });
    $('headers').replaceChildren(...rows);
    const body = await got.blob();
    if (body.size !== file.size) {
      throw new Error('read back ' + body.size + ' bytes, uploaded ' + file.size);
    }
    $('content').textContent = file.type.startsWith('text/') || file.type === '' ?
      (await body.text()).slice(0, 4000) : '(' + body.size + ' bytes of ' + file.type + ')';
  }
  return urls.key;
}

$('origin').textContent = location.origin;
$('upload').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('file').files[0];
  if (!file) {
    return;
  }
  $('go').disabled = true;
  $('log').textContent = '';
  setStatus('working', 'Uploading ' + file.name + '…');
  try {
    const key = await upload(file);
    setStatus('done', 'Uploaded ' + key + ' (' + file.size + ' bytes) and read it back.');
  } catch (err) {
    log(err.message);
    setStatus('failed', err.message);
  } finally {
    $('go').disabled = false;
  }
});
