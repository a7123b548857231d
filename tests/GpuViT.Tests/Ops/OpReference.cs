using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;

namespace GpuViT.Tests.Ops;

/// <summary>The ops as plain loops in double precision: the references for the cpu ops and the kernels.</summary>
internal static class OpReference
{
    public static double[] LayerNorm(float[] x, float[] gamma, float[] beta, int rows, int cols, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < cols; c++)
            {
                mean += x[r * cols + c];
            }

            mean /= cols;
            for (int c = 0; c < cols; c++)
            {
                variance += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
            }

            variance /= cols;
            for (int c = 0; c < cols; c++)
            {
                y[r * cols + c] = (x[r * cols + c] - mean) / Math.Sqrt(variance + (float)eps) * gamma[c] + beta[c];
            }
        }

        return y;
    }

    /// <summary>Softmax of each row of x.</summary>
    public static double[] Softmax(float[] x, int rows, int cols)
    {
        double[] y = [.. x.Select(v => (double)v)];
        for (int r = 0; r < rows; r++)
        {
            Softmax(y.AsSpan(r * cols, cols));
        }

        return y;
    }

    /// <summary>Softmax of one row in place, the max subtracted before exp (the one definition: the attention references use it too).</summary>
    public static void Softmax(Span<double> row)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (double value in row)
        {
            max = Math.Max(max, value);
        }

        for (int i = 0; i < row.Length; i++)
        {
            row[i] = Math.Exp(row[i] - max);
            sum += row[i];
        }

        for (int i = 0; i < row.Length; i++)
        {
            row[i] /= sum;
        }
    }

    public static double[] Gelu(float[] x, Activation activation) =>
        x.Select(v => activation == Activation.Gelu
            ? 0.5 * v * (1 + Erf(v / Math.Sqrt(2)))
            : 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))).ToArray();

    public static double[] ClassTokenAndPositions(float[] tokens, float[]? cls, float[] positions, int batch, int tokenCount, int dim)
    {
        var y = new double[tokens.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tokenCount; t++)
            {
                for (int d = 0; d < dim; d++)
                {
                    int i = (b * tokenCount + t) * dim + d;
                    y[i] = (t == 0 && cls is not null ? cls[d] : tokens[i]) + (double)positions[t * dim + d];
                }
            }
        }

        return y;
    }

    public static double[] Pool(float[] tokens, int batch, int tokenCount, int dim, PoolMode mode, int prefix)
    {
        var y = new double[batch * dim];
        int first = mode == PoolMode.ClassToken ? 0 : prefix, last = mode == PoolMode.ClassToken ? 1 : tokenCount;
        for (int b = 0; b < batch; b++)
        {
            for (int d = 0; d < dim; d++)
            {
                double sum = 0;
                for (int t = first; t < last; t++)
                {
                    sum += tokens[(b * tokenCount + t) * dim + d];
                }

                y[b * dim + d] = sum / (last - first);
            }
        }

        return y;
    }

    /// <summary>erf: its Maclaurin series below 3 (where at most 4 of 16 digits cancel), the erfc continued fraction above.</summary>
    public static double Erf(double x)
    {
        double a = Math.Abs(x);
        if (double.IsNaN(x) || a < 3)
        {
            double power = x, sum = x;
            for (int n = 1; n < 200 && !double.IsNaN(x); n++)
            {
                power *= -x * x / n;
                double term = power / (2 * n + 1);
                sum += term;
                if (Math.Abs(term) < 1e-18 * Math.Abs(sum))
                {
                    break;
                }
            }

            return sum * 2 / Math.Sqrt(Math.PI);
        }

        double fraction = 0;
        for (int k = 80; k >= 1; k--)
        {
            fraction = k / 2.0 / (a + fraction);
        }

        return Math.CopySign(1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / (a + fraction), x);
    }
}
