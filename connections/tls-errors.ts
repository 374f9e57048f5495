/**
 * Node's TLS verification failures (OpenSSL's codes, as `err.code`), shared by the PostgreSQL and
 * NATS connections to tell "the certificate is not trusted" from "the server cannot be reached".
 */

/** Codes Node gives a failed verification of the server's certificate (untrusted, wrong name, expired). */
const SERVER_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The first error in `e`'s cause chain (AggregateErrors included) that satisfies `test`. */
export function findCause(
  e: unknown,
  test: (err: { code?: unknown; message?: unknown; name?: unknown }) => boolean,
): { code?: unknown; message?: unknown; name?: unknown } | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length) {
    const cur = queue.shift();
    if (!cur || typeof cur !== 'object' || seen.has(cur)) continue;
    seen.add(cur);
    const err = cur as { code?: unknown; cause?: unknown; errors?: unknown };
    if (test(err)) return err;
    queue.push(err.cause);
    if (Array.isArray(err.errors)) queue.push(...(err.errors as unknown[]));
  }
  return undefined;
}

/** The server's certificate failed verification: the code and Node's message, or undefined. */
export function serverCertificateFailure(e: unknown): { code: string; message: string } | undefined {
  const found = findCause(e, (err) => typeof err.code === 'string' && SERVER_CERT_CODES.has(err.code));
  return found ? { code: String(found.code), message: String(found.message ?? found.code) } : undefined;
}

/**
 * The server ended the TLS handshake with an alert about our certificate (none sent, or one it
 * does not trust): OpenSSL reports it as an `ERR_SSL_*` code on our side.
 */
export function clientCertificateRejected(e: unknown): { code: string; message: string } | undefined {
  const found = findCause(
    e,
    (err) =>
      typeof err.code === 'string' &&
      /^ERR_SSL_(SSLV3|TLSV1[0-9]?)_ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|DECRYPT_ERROR)$/.test(
        err.code,
      ),
  );
  return found ? { code: String(found.code), message: String(found.message ?? found.code) } : undefined;
}
