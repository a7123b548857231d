using System.Diagnostics;

namespace GpuViT.Tests.Generator;

/// <summary>A real `dotnet build` of a user project whose kernel allocates: the build fails with GV0005.</summary>
public sealed class BuildFailureTests
{
    [Fact]
    public void Forbidden_construct_fails_the_build_with_its_GV_diagnostic()
    {
        string directory = Path.Combine(Path.GetTempPath(), "gpuvit-build-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            // The built kernel language and generator, referenced as a user's project would.
            string binaries = AppContext.BaseDirectory;
            File.WriteAllText(Path.Combine(directory, "UserKernels.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <Reference Include="{Path.Combine(binaries, "GpuViT.Kernels.dll")}" />
                    <Analyzer Include="{Path.Combine(binaries, "GpuViT.Kernels.Generator.dll")}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(directory, "Bad.cs"), """
                using GpuViT.Kernels;

                public static class UserKernels
                {
                    [Kernel]
                    public static void Scratch(KernelThread thread, ReadWriteView<float> output)
                    {
                        var scratch = new float[4];
                        output[thread.Global.X] = 1f;
                    }
                }
                """);

            (int exitCode, string output) = Run("dotnet", $"build \"{directory}\" --nologo -v quiet --disable-build-servers -nodeReuse:false", directory);

            Assert.NotEqual(0, exitCode);
            Assert.Contains("Bad.cs(8,23): error GV0005: 'new float[4]' allocates, which kernels cannot do", output);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static (int ExitCode, string Output) Run(string program, string arguments, string directory)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("dotnet build did not finish in 3 minutes");
        }

        return (process.ExitCode, output + error.Result);
    }
}
