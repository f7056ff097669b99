/**
 * Errors raised by data loading, preprocessing and the model zoo. Each is a ThawError with a stable
 * `kind`, and each message names the problem and how to fix it.
 */
import { ThawError } from '../core/errors.ts';

/** A data file (IDX, image, label file) is malformed or of a format thaw does not read. kind 'data-format'. */
export class DataFormatError extends ThawError {
  constructor(message: string, options?: { cause?: unknown }) { super('data-format', message, options); }
}

/** A data set, folder or file that was asked for is not there (or is empty). kind 'data-missing'. */
export class DataMissingError extends ThawError {
  constructor(message: string, options?: { cause?: unknown }) { super('data-missing', message, options); }
}

/** An argument to a data helper is out of range (batch size, crop size, k per class...). kind 'data-arg'. */
export class DataArgError extends ThawError {
  constructor(message: string) { super('data-arg', message); }
}

/** A model name is not in the zoo; the message suggests the nearest names. kind 'zoo-unknown'. */
export class UnknownModelError extends ThawError {
  /** Registered names closest to the one asked for, nearest first. */
  readonly suggestions: string[];
  constructor(message: string, suggestions: string[]) {
    super('zoo-unknown', message);
    this.suggestions = suggestions;
  }
}

/** A file's sha256 differs from the zoo's record. kind 'zoo-checksum'. */
export class ChecksumError extends ThawError {
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string, source: string) {
    super('zoo-checksum',
      `sha256 mismatch for ${file} (from ${source}): expected ${expected}, got ${actual}. ` +
      'The file is corrupt, truncated or a different version; it was not kept in the cache. ' +
      'Delete the bad copy and fetch again, or place the right file by hand.');
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A zoo file could not be found locally nor downloaded. kind 'zoo-unavailable'. */
export class ModelUnavailableError extends ThawError {
  constructor(message: string, options?: { cause?: unknown }) { super('zoo-unavailable', message, options); }
}
