/**
 * Groups facts read in stream order into whole source transactions. The facts stream is in commit
 * order and a transaction's facts are contiguous, so a transaction is complete as soon as a fact of
 * a later transaction is read. The last transaction read (the open one) may still be being
 * published; whether it is complete is decided by the caller (see docs/read-models.md,
 * "Transactions"): snapshot facts need no marker, anything else needs its commit marker.
 */

/** A fact as the read models use it. */
export interface FactRecord {
  /** Stream sequence in `<P>_FACTS`. */
  readonly seq: number;
  /** "schema.table" */
  readonly table: string;
  readonly key: Record<string, unknown>;
  readonly op: string;
  readonly deleted: boolean;
  readonly row: Record<string, unknown> | null;
  readonly version: string;
  readonly schemaVersion: number;
  /** Commit LSN (from the version). */
  readonly lsn: bigint;
  /** Source transaction id, null for facts without one. */
  readonly txId: number | null;
  /** Index of the change in its transaction. */
  readonly txSeq: number;
  /** Commit time (ISO), null when unknown. */
  readonly commitTime: string | null;
}

/** Facts of one source transaction (or of one snapshot chunk), in stream order. */
export interface SourceTransaction {
  readonly lsn: bigint;
  readonly txId: number | null;
  readonly facts: readonly FactRecord[];
  /** True when every fact is a snapshot fact (no commit marker exists for them). */
  readonly snapshotOnly: boolean;
  readonly lastSeq: number;
}

export class TransactionAssembler {
  #open: FactRecord[] = [];

  /** Adds a fact; returns the transaction it completed, if any. */
  push(f: FactRecord): SourceTransaction | null {
    const cur = this.#open[0];
    if (cur && cur.lsn !== f.lsn) {
      if (f.lsn < cur.lsn)
        throw new Error(
          `facts stream out of commit order at seq ${f.seq}: ${f.version} after ${cur.version}`,
        );
      const done = this.#take();
      this.#open.push(f);
      return done;
    }
    this.#open.push(f);
    return null;
  }

  /** The transaction still open (its completeness is unknown), or null. */
  open(): SourceTransaction | null {
    return this.#open.length ? group(this.#open) : null;
  }

  /** Hands out the open transaction (the caller decided it is complete). */
  take(): SourceTransaction | null {
    return this.#open.length ? this.#take() : null;
  }

  #take(): SourceTransaction {
    const g = group(this.#open);
    this.#open = [];
    return g;
  }
}

function group(facts: FactRecord[]): SourceTransaction {
  return {
    lsn: facts[0]!.lsn,
    txId: facts[0]!.txId,
    facts,
    snapshotOnly: facts.every((f) => f.op === 'snapshot'),
    lastSeq: facts[facts.length - 1]!.seq,
  };
}
