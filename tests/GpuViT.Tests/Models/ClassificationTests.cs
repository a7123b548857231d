using GpuViT.Models.Vit;

namespace GpuViT.Tests.Models;

public class ClassificationTests
{
    [Fact]
    public void Softmax_matches_the_formula_and_sums_to_one()
    {
        float[] logits = [1f, 3f, -2f, 0.5f];
        double[] p = Classification.Softmax(logits);
        double z = logits.Sum(l => Math.Exp(l));
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.Equal(Math.Exp(logits[i]) / z, p[i], 1e-12);
        }

        Assert.Equal(1.0, p.Sum(), 1e-12);
    }

    [Fact]
    public void Softmax_of_large_logits_does_not_overflow()
    {
        double[] p = Classification.Softmax([1000f, 1000f]);
        Assert.Equal([0.5, 0.5], p);
    }

    [Fact]
    public void TopK_orders_by_logit_breaks_ties_by_index_and_skips_non_finite()
    {
        float[] logits = [2f, float.NaN, 5f, 2f, float.PositiveInfinity, -1f];
        ClassScore[] top = Classification.TopK(logits, 4, ["a", "b", "c", "d", "e", "f"]);
        Assert.Equal([2, 0, 3, 5], top.Select(c => c.Index));
        Assert.Equal(["c", "a", "d", "f"], top.Select(c => c.Label));
        Assert.Equal(0.0, Classification.Softmax(logits)[1]);
        Assert.Equal(1.0, Classification.Softmax(logits).Sum(), 1e-12);
    }

    [Fact]
    public void TopK_of_no_finite_logit_is_empty_and_k_past_the_classes_gives_them_all()
    {
        Assert.Empty(Classification.TopK([float.NaN, float.NegativeInfinity], 3));
        Assert.Equal(2, Classification.TopK([1f, 2f], 5).Length);
        Assert.Throws<ArgumentException>(() => Classification.TopK([1f, 2f], 1, ["only one"]));
    }
}
