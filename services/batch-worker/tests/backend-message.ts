/** A PostgreSQL backend message, as the server sends it: type byte, Int32 length (counting itself), body. */
export function backendMessage(type: string, body: Buffer | string = ''): Buffer {
  const bytes = Buffer.from(body);
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}
