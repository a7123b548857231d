using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;

namespace GpuViT.Tests.Cpu;

/// <summary>erf, erfc and the activations in double, as references for the float versions.</summary>
internal static class MathReference
{
    /// <summary>erfc(x): the Maclaurin series of erf below 3, a continued fraction from 3 on.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }

        if (x < 0)
        {
            return 2 - Erfc(-x);
        }

        if (x < 3)
        {
            double x2 = x * x, power = x, sum = x;
            for (int n = 1; n < 300; n++)
            {
                power *= -x2 / n;
                double term = power / (2 * n + 1);
                sum += term;
                if (Math.Abs(term) < 1e-20)
                {
                    break;
                }
            }

            return 1 - sum * 2 / Math.Sqrt(Math.PI);
        }

        // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up.
        double fraction = x;
        for (int n = 200; n >= 1; n--)
        {
            fraction = x + n / 2.0 / fraction;
        }

        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / fraction;
    }

    public static double Erf(double x) => 1 - Erfc(x);

    public static double Gelu(double x) => 0.5 * x * Erfc(-x / Math.Sqrt(2));

    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double Activate(double x, Activation activation) => activation switch
    {
        Activation.Gelu => Gelu(x),
        Activation.GeluTanh => GeluTanh(x),
        _ => x,
    };
}
