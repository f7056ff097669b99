/** Text: BERT's basic tokenisation and the WordPiece tokenizer. */
export { basicTokenize, isWhitespace, isControl, isPunctuation, isCjk, type BasicOptions } from './basic.ts';
export { WordPiece, type WordPieceOptions, type EncodeOptions, type Encoding, type EncodedBatch } from './wordpiece.ts';
