import { verifyScenario } from './verify.ts';
import { oimsSchema } from '../helpers/replicas.ts';

// Across the two servers, with the hub's text keys in a linguistic collation
// (case-insensitive utf8mb4_unicode_ci on MariaDB, ICU on PostgreSQL) and the
// lab's in a binary one: the same keys sort differently on the two sides, and
// on the MariaDB hub 'BETA' and 'beta' are one key, yet not the same row.
verifyScenario('mysql', 'postgres', { hubSchema: oimsSchema('mysql').replaceAll('COLLATE=utf8mb4_bin', 'COLLATE=utf8mb4_unicode_ci'), note: 'utf8mb4_unicode_ci' });
verifyScenario('postgres', 'mysql', { hubSchema: oimsSchema('postgres').replace(/\bTEXT\b/g, 'TEXT COLLATE "en-x-icu"'), note: 'ICU collation' });
