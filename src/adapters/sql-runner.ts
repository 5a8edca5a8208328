/** The little that portable bookkeeping SQL needs of a connection inside a transaction. Parameters are `?`. */
export interface SqlRunner {
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** run an INSERT into a table whose key column is `seq` or `id`, and return the new key */
  insertReturningId(sql: string, params: readonly unknown[], idColumn: string): Promise<number>;
}
