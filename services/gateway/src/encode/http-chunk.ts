/**
 * One chunk of a `Transfer-Encoding: chunked` HTTP body (RFC 9112 §7.1): the size in hex, CRLF,
 * the data, CRLF; exactly what `node:http` writes for `res.write(data)` on a chunked response.
 * Built once per SSE frame and written as-is to every recipient's socket, instead of
 * `node:http` writing three pieces (one a new size string) per recipient.
 */
const CRLF = Buffer.from('\r\n');

export function httpChunk(data: Uint8Array): Buffer {
  const size = Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1');
  return Buffer.concat([size, data, CRLF], size.length + data.length + 2);
}
