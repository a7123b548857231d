using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// Views of 16-bit floats (Half, BFloat16) are storage only, in exactly two forms: the load
/// <c>(float)view[i]</c> and the store statement <c>view[i] = (Half)x;</c>. Anything else that
/// touches a 16-bit value is GV0024, so kernels never compute in 16 bits (OpenCL 1.2 cannot
/// without cl_khr_fp16, and the emulator would round differently from the devices).
/// </summary>
internal sealed partial class FunctionTranslator
{
    public bool UsesHalf { get; private set; }

    public bool UsesBFloat16 { get; private set; }

    /// <summary>The C for a 16-bit load or store, a GV0024 for another use of a 16-bit element, or null for other expressions.</summary>
    private string? Storage16Access(ExpressionSyntax expression)
    {
        switch (expression)
        {
            case CastExpressionSyntax { Expression: ElementAccessExpressionSyntax element } cast when Storage16Element(element) is { } loaded:
                if (KernelTypes.Scalar(_model.GetTypeInfo(cast.Type).Type) != "float")
                {
                    return Fail(Diagnostics.Storage16, cast, Show(cast), "converts a 16-bit element to another type than float");
                }

                return SingleIndex(element) is { } loadIndex
                    ? Used16(loaded).Load16(loaded, Expression(element.Expression), loadIndex)
                    : Error;

            case AssignmentExpressionSyntax { Left: ElementAccessExpressionSyntax element } assignment when Storage16Element(element) is { } stored:
                if (!assignment.IsKind(SyntaxKind.SimpleAssignmentExpression))
                {
                    return Fail(Diagnostics.Storage16, assignment, Show(assignment), "is 16-bit arithmetic (compound assignment)");
                }

                if (assignment.Parent is not ExpressionStatementSyntax)
                {
                    return Fail(Diagnostics.Storage16, assignment, Show(assignment), "uses a 16-bit store as a value; it must be a statement of its own");
                }

                string castText = stored == "half" ? "(Half)" : "(BFloat16)";
                if (assignment.Right is not CastExpressionSyntax value || KernelTypes.Storage16(_model.GetTypeInfo(value.Type).Type) != stored)
                {
                    return Fail(Diagnostics.Storage16, assignment.Right, Show(assignment.Right), "is stored to a 16-bit element without a " + castText + " cast of a float");
                }

                if (KernelTypes.Scalar(_model.GetTypeInfo(value.Expression).Type) != "float")
                {
                    return Fail(Diagnostics.Storage16, value, Show(value), "converts a value that is not a float (cast it to float first: " + castText + "(float)x)");
                }

                return SingleIndex(element) is { } storeIndex
                    ? Used16(stored).Store16(stored, Expression(element.Expression), storeIndex, Expression(value.Expression))
                    : Error;

            default:
                return null;
        }
    }

    /// <summary>"half" or "bfloat16" when element indexes a view of 16-bit floats, else null.</summary>
    private string? Storage16Element(ElementAccessExpressionSyntax element) =>
        KernelTypes.View(_model.GetTypeInfo(element.Expression).Type) is { } view && view.Element is "half" or "bfloat16" ? view.Element : null;

    /// <summary>The dialect, after noting which conversions the program needs.</summary>
    private Dialect Used16(string element)
    {
        UsesHalf |= element == "half";
        UsesBFloat16 |= element == "bfloat16";
        return _dialect;
    }
}
