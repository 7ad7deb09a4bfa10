//! Okapi BM25 over documents given as lists of terms, queried with weighted terms (a term said in a
//! recent utterance counts more than one said a minute ago).

use std::collections::HashMap;

/// The usual constants; the documents here are short phrases, so length normalisation matters.
const K1: f32 = 1.2;
const B: f32 = 0.75;

#[derive(Debug, Clone)]
pub struct Bm25 {
    /// term → (document, term frequency) for every document holding it.
    postings: HashMap<String, Vec<(usize, u32)>>,
    lengths: Vec<f32>,
    avg_len: f32,
}

impl Bm25 {
    pub fn new(docs: &[Vec<String>]) -> Bm25 {
        let mut postings: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        for (d, terms) in docs.iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for t in terms {
                *counts.entry(t).or_default() += 1;
            }
            for (t, n) in counts {
                postings.entry(t.to_string()).or_default().push((d, n));
            }
        }
        let lengths: Vec<f32> = docs.iter().map(|d| d.len() as f32).collect();
        let avg_len = (lengths.iter().sum::<f32>() / lengths.len().max(1) as f32).max(1.0);
        Bm25 {
            postings,
            lengths,
            avg_len,
        }
    }

    /// The score of every document for the weighted query terms (each term once).
    pub fn scores(&self, query: &[(&str, f32)]) -> Vec<f32> {
        let mut scores = vec![0.0; self.lengths.len()];
        for &(term, weight) in query {
            let Some(posting) = self.postings.get(term) else {
                continue;
            };
            let idf = self.idf(posting.len());
            for &(d, tf) in posting {
                let tf = tf as f32;
                let norm = K1 * (1.0 - B + B * self.lengths[d] / self.avg_len);
                scores[d] += weight * idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        scores
    }

    /// Whether document `doc` holds `term`.
    pub fn contains(&self, doc: usize, term: &str) -> bool {
        self.postings
            .get(term)
            .is_some_and(|p| p.iter().any(|&(d, _)| d == doc))
    }

    /// The non-negative IDF variant (Lucene's): a term in most documents still counts a little.
    fn idf(&self, df: usize) -> f32 {
        let n = self.lengths.len() as f32;
        let df = df as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts
            .iter()
            .map(|t| t.split(' ').map(String::from).collect())
            .collect()
    }

    #[test]
    fn rare_terms_weigh_more_than_common_ones() {
        let index = Bm25::new(&docs(&[
            "order late",
            "order cancel",
            "order return",
            "password reset",
        ]));
        let s = index.scores(&[("order", 1.0), ("cancel", 1.0)]);
        assert!(s[1] > s[0] && s[1] > s[2], "{s:?}");
        assert_eq!(s[3], 0.0);
        // "order" is in three documents of four, "cancel" in one.
        assert!(index.scores(&[("cancel", 1.0)])[1] > 2.0 * index.scores(&[("order", 1.0)])[1]);
    }

    #[test]
    fn weights_scale_and_short_documents_win_ties() {
        let index = Bm25::new(&docs(&["refund", "refund for the broken item today"]));
        let s = index.scores(&[("refund", 1.0)]);
        assert!(s[0] > s[1]);
        let half = index.scores(&[("refund", 0.5)]);
        assert!((half[0] - s[0] / 2.0).abs() < 1e-6);
        assert!(index.contains(1, "broken") && !index.contains(0, "broken"));
        assert!(index.scores(&[("unknown", 1.0)]).iter().all(|&x| x == 0.0));
    }
}
