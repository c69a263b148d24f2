// A small RFC 4180 CSV/TSV parser: quoted fields, doubled quotes, separators and
// newlines inside quotes, CRLF. Stops after maxRows rows.
export function parseDelimited(text: string, sep: string, maxRows = 500): { rows: string[][]; truncated: boolean } {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  const endRow = () => { row.push(field); field = ''; rows.push(row); row = []; };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === sep) { row.push(field); field = ''; i++; continue; }
    if (c === '\r' || c === '\n') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      if (rows.length >= maxRows) return { rows, truncated: i < n };
      continue;
    }
    field += c; i++;
  }
  if (field !== '' || row.length) endRow();
  return { rows, truncated: false };
}
