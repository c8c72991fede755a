"""Top-k accuracy."""

__all__ = ["compute_accuracy"]


def compute_accuracy(output, target, topk=(1,)):
    """Top-k accuracies in percent, one 1-element tensor per k.

    ``output``: logits (batch, num_classes), or a tuple/list whose first item is;
    ``target``: labels (batch,).
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    batch_size = target.size(0)
    _, pred = output.topk(max(topk), dim=1, largest=True, sorted=True)
    correct = pred.t().eq(target.view(1, -1).expand(pred.size(1), -1))
    return [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / batch_size) for k in topk]
