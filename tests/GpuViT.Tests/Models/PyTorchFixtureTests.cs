using GpuViT.Kernels.Runtime;
using GpuViT.Models.Inputs;
using GpuViT.Models.Vit;
using GpuViT.Models.Weights;
using GpuViT.Tests.Runtime;
using Xunit;

namespace GpuViT.Tests.Models;

/// <summary>
/// Logits against PyTorch's: small ViTs built with torchvision's VisionTransformer, their weights
/// in timm's layout, an input batch and the logits PyTorch computed (tests/fixtures). The
/// bound is the issue's: max |error| ≤ 1e-4 × max |logit|.
/// </summary>
public sealed class PyTorchFixtureTests
{
    // The same models as make_vit_fixtures.py: image, patch, layers, heads, hidden, mlp, classes.
    private static readonly Dictionary<string, VitConfig> Configs = new()
    {
        ["vit_fixture_tiny"] = new VitConfig(32, 8, 3, 32, 2, 2, 64, 10),
        ["vit_fixture_odd"] = new VitConfig(28, 7, 3, 48, 3, 3, 80, 7),
    };

    [Theory]
    [InlineData("vit_fixture_tiny", "cpu")]
    [InlineData("vit_fixture_odd", "cpu")]
    [InlineData("vit_fixture_tiny", "opencl")]
    [InlineData("vit_fixture_odd", "opencl")]
    [InlineData("vit_fixture_tiny", "emulator")]
    public void Timm_layout_logits_match_PyTorch(string name, string backend)
    {
        VitConfig config = Configs[name];
        string directory = Path.Combine(AppContext.BaseDirectory, "fixtures");
        VitWeights weights;
        using (SafetensorsFile file = SafetensorsFile.Open(Path.Combine(directory, name + ".timm.safetensors")))
        {
            weights = new VitWeights(file.Tensors.ToDictionary(
                t => t.Name, t => new VitTensor(t.Shape.Select(d => checked((int)d)).ToArray(), file.ReadFloat32(t.Name))));
        }

        NpyArray input = NpyFile.ReadFloat32(Path.Combine(directory, name + ".input.npy"));
        float[] expected = NpyFile.ReadFloat32(Path.Combine(directory, name + ".logits.npy")).Data;
        using Device device = backend == "opencl" ? RuntimeRequirement.OpenCL() : Devices.Open(backend).Device;
        using VitModel model = VitModel.Load(device, config, weights);

        float[] logits = model.Forward(input.Data, input.Shape[0]);

        Assert.Equal(expected.Length, logits.Length);
        float bound = 1e-4f * expected.Max(MathF.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(MathF.Abs(logits[i] - expected[i]) <= bound, $"logit {i}: PyTorch {expected[i]}, GpuViT {logits[i]} (bound {bound})");
        }
    }
}
