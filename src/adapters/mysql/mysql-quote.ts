/** An identifier in backticks (MySQL/MariaDB). */
export function quoteMysql(ident: string): string {
  return `\`${ident.replace(/`/g, '``')}\``;
}

/** A string literal, for our own connections (default sql_mode: backslash escapes). */
export function mysqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0')}'`;
}
