/**
 * A tiny sentiment task from a hand-written word list, with negation: "the film was not bad !" is
 * positive. The label is (adjective is positive) XOR (negated), so no single word decides it: the
 * encoder has to relate "not" to the adjective. Without negation (`negation: false`) the adjective
 * alone decides: the source task bench/lora.ts pre-trains on. The words are in the BERT test
 * vocabulary (test/fixtures/bert/vocab.txt).
 */
export function negationSentence(rand: () => number, o: { negation?: boolean } = {}): { text: string; label: number } {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const positive = rand() < 0.5, negated = rand() < 0.5 && o.negation !== false;
  const adj = pick(positive ? ['great', 'good'] : ['bad', 'terrible']);
  const text = `${pick(['', 'hello , ', 'i think '])}${pick(['the movie', 'the film', 'this movie', 'this film', 'it'])} ` +
    `${pick(['was', 'is'])} ${negated ? 'not ' : ''}${adj}${pick(['', ' !', ' .'])}`;
  return { text, label: positive !== negated ? 1 : 0 };
}
