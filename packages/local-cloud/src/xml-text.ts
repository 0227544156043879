/** XML's five predefined entities, `&` first (escaping replaces it before the others bring theirs). */
const ENTITIES: readonly (readonly [string, string])[] = [
  ['&', '&amp;'],
  ['<', '&lt;'],
  ['>', '&gt;'],
  ['"', '&quot;'],
  ["'", '&apos;'],
];

/** Text as it goes into an XML element or attribute (the answers of S3's and SQS's XML protocols). */
export function escapeXml(text: string): string {
  return ENTITIES.reduce((escaped, [character, entity]) => escaped.replaceAll(character, entity), text);
}

/** The text of an XML element as written (the predefined entities; requests use no others). */
export function unescapeXml(text: string): string {
  // `&amp;` last, so `&amp;lt;` stays the text `&lt;`.
  return ENTITIES.toReversed().reduce(
    (unescaped, [character, entity]) => unescaped.replaceAll(entity, character),
    text,
  );
}
