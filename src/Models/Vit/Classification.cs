namespace GpuViT.Models.Vit;

/// <summary>One class of a classification: its index, probability (softmax over the finite logits) and name, if known.</summary>
public readonly record struct ClassScore(int Index, double Probability, string? Label);

/// <summary>
/// Turning logits into classes: softmax and top-k. Only finite logits count: a NaN or ±∞ logit is
/// no class and gets probability 0, so a corrupt output is never ranked.
/// </summary>
public static class Classification
{
    /// <summary>The softmax of the finite logits (computed in double, shifted by their maximum); all zeros when none is finite.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits)
    {
        var p = new double[logits.Length];
        float max = float.NegativeInfinity;
        foreach (float l in logits)
        {
            max = float.IsFinite(l) ? Math.Max(max, l) : max;
        }

        if (float.IsNegativeInfinity(max))
        {
            return p;
        }

        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            p[i] = float.IsFinite(logits[i]) ? Math.Exp(logits[i] - max) : 0;
            sum += p[i];
        }

        for (int i = 0; i < p.Length; i++)
        {
            p[i] /= sum;
        }

        return p;
    }

    /// <summary>
    /// The <paramref name="k"/> most probable classes, most probable first (ties: the lower index
    /// first); fewer when fewer logits are finite, none when none is. Labels from
    /// <paramref name="classNames"/> where given.
    /// </summary>
    public static ClassScore[] TopK(ReadOnlySpan<float> logits, int k, IReadOnlyList<string>? classNames = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (classNames is not null && classNames.Count != logits.Length)
            throw new ArgumentException($"{classNames.Count} class names for {logits.Length} logits", nameof(classNames));
        double[] p = Softmax(logits);
        float[] copy = logits.ToArray();
        return [.. Enumerable.Range(0, copy.Length).Where(i => float.IsFinite(copy[i]))
            .OrderByDescending(i => copy[i]).ThenBy(i => i).Take(k)
            .Select(i => new ClassScore(i, p[i], classNames?[i]))];
    }
}
