export function quoteSqlite(ident: string): string {
  return `"${ident.replace(/"/g, '""')}"`;
}

export function sqliteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
