"""Classification evaluator: accuracy, error rate, macro-F1 (printed as Dassl prints them)."""
import os.path as osp
from collections import OrderedDict, defaultdict

import numpy as np
import torch

from .build import EVALUATOR_REGISTRY

__all__ = ["EvaluatorBase", "Classification", "macro_f1_score", "confusion_matrix_normalized"]


def macro_f1_score(y_true, y_pred):
    """Mean over the labels present in ``y_true`` of F1 = 2TP / (2TP + FP + FN).

    Same value as ``sklearn.metrics.f1_score(average="macro", labels=np.unique(y_true))``.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    scores = []
    for label in np.unique(y_true):
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        scores.append(2.0 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def confusion_matrix_normalized(y_true, y_pred):
    """Confusion matrix over the sorted labels of both lists, each row divided by its sum."""
    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    index = {label: i for i, label in enumerate(labels)}
    cmat = np.zeros((len(labels), len(labels)), dtype=np.float64)
    for t, p in zip(y_true, y_pred):
        cmat[index[t], index[p]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        cmat = cmat / cmat.sum(axis=1, keepdims=True)
    return np.nan_to_num(cmat)


class EvaluatorBase:
    """Interface: ``reset()``, ``process(model_output, ground_truth)``, ``evaluate() -> dict``."""

    def __init__(self, cfg):
        self.cfg = cfg

    def reset(self):
        raise NotImplementedError

    def process(self, mo, gt):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error rate and macro-F1 over the processed batches; per-class accuracy on request."""

    def __init__(self, cfg, lab2cname=None, **kwargs):
        super().__init__(cfg)
        self._lab2cname = lab2cname
        self._per_class = cfg.TEST.PER_CLASS_RESULT
        if self._per_class and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs lab2cname")
        self.reset()

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list) if self._per_class else None

    def process(self, mo, gt):
        """``mo``: logits (batch, num_classes); ``gt``: labels (batch,)."""
        pred = mo.max(1)[1]
        matches = pred.eq(gt).int()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.detach().cpu().tolist())
        self._y_pred.extend(pred.detach().cpu().tolist())
        if self._per_class_res is not None:
            for label, match in zip(gt.tolist(), matches.tolist()):
                self._per_class_res[label].append(match)

    def evaluate(self):
        """Print and return the results; the first entry ("accuracy") is what trainer.test() returns."""
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results = OrderedDict([("accuracy", acc), ("error_rate", err), ("macro_f1", macro_f1)])
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )

        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                correct, total = sum(res), len(res)
                class_acc = 100.0 * correct / total
                accs.append(class_acc)
                print(
                    f"* class: {label} ({self._lab2cname[label]})\t"
                    f"total: {total:,}\tcorrect: {correct:,}\tacc: {class_acc:.1f}%"
                )
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc

        if self.cfg.TEST.COMPUTE_CMAT:
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(confusion_matrix_normalized(self._y_true, self._y_pred), save_path)
            print(f"Confusion matrix is saved to {save_path}")

        return results
