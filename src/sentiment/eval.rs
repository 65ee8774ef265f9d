//! Scoring a scorer against gold labels: what the sentiment bench and the trainer report.

use crate::mention::Label;

/// Macro-F1 over the three classes and, per class in the order negative, neutral, positive,
/// (precision, recall, F1). A class never predicted or never present scores 0.
pub fn macro_f1(gold: &[Label], pred: &[Label]) -> (f64, [(f64, f64, f64); 3]) {
    let mut per = [(0.0, 0.0, 0.0); 3];
    for (k, c) in [Label::Negative, Label::Neutral, Label::Positive]
        .iter()
        .enumerate()
    {
        let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
        for (g, p) in gold.iter().zip(pred) {
            match (g == c, p == c) {
                (true, true) => tp += 1.0,
                (false, true) => fp += 1.0,
                (true, false) => fneg += 1.0,
                _ => {}
            }
        }
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let r = if tp + fneg > 0.0 {
            tp / (tp + fneg)
        } else {
            0.0
        };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        per[k] = (p, r, f);
    }
    ((per[0].2 + per[1].2 + per[2].2) / 3.0, per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_averages_the_classes() {
        use Label::*;
        let gold = [Negative, Negative, Neutral, Positive];
        let pred = [Negative, Neutral, Neutral, Positive];
        let (m, per) = macro_f1(&gold, &pred);
        assert_eq!(per[0], (1.0, 0.5, 2.0 / 3.0));
        assert_eq!(per[1], (0.5, 1.0, 2.0 / 3.0));
        assert_eq!(per[2], (1.0, 1.0, 1.0));
        assert!((m - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }
}
