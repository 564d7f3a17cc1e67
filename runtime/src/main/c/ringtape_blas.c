/*
 * cblas_sgemm on Java float arrays without copying them: JavaCPP's binding copies every operand into native memory
 * and back (GetFloatArrayElements/Release...), which took 7-11 % of a training step (bench/RESULTS.md). Here the
 * arrays are pinned for the call (GetPrimitiveArrayCritical) and OpenBLAS reads and writes them in place, at an
 * offset, so a GEMM into a view writes that view and nothing else.
 *
 * OpenBLAS itself is the one JavaCPP has loaded (the bundled natives) and calls cblas_sgemm of: JavaCPP's
 * libjniopenblas.so needs libopenblas.so.0, which open() finds by that soname among the libraries already in the
 * process (RTLD_NOLOAD: nothing new is loaded).
 */
#include <dlfcn.h>
#include <jni.h>

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);

static sgemm_fn sgemm;

/* Finds cblas_sgemm in the OpenBLAS already loaded; null on success, else why not. */
JNIEXPORT jstring JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_open(JNIEnv *env, jclass cls) {
    static const char *const names[] = {"libopenblas.so.0", "libopenblas_nolapack.so.0"};
    (void)cls;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
        if (lib != NULL) {
            sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
            if (sgemm != NULL) {
                return NULL;
            }
        }
    }
    return (*env)->NewStringUTF(env, "no loaded libopenblas.so.0 or libopenblas_nolapack.so.0 with cblas_sgemm");
}

/* Row-major C[cOff..] = alpha op(A[aOff..]) op(B[bOff..]) + beta C[cOff..]; trans: CblasNoTrans or CblasTrans. */
JNIEXPORT void JNICALL Java_dev_ringtape_runtime_backend_cpu_NativeBlas_sgemm(
        JNIEnv *env, jclass cls, jint trans_a, jint trans_b, jint m, jint n, jint k, jfloat alpha, jfloatArray a,
        jint a_off, jint lda, jfloatArray b, jint b_off, jint ldb, jfloat beta, jfloatArray c, jint c_off, jint ldc) {
    (void)cls;
    float *pa = (*env)->GetPrimitiveArrayCritical(env, a, NULL);
    float *pb = pa == NULL ? NULL : (*env)->GetPrimitiveArrayCritical(env, b, NULL);
    float *pc = pb == NULL ? NULL : (*env)->GetPrimitiveArrayCritical(env, c, NULL);
    if (pc != NULL) {
        sgemm(101 /* CblasRowMajor */, trans_a, trans_b, m, n, k, alpha, pa + a_off, lda, pb + b_off, ldb, beta,
              pc + c_off, ldc);
        (*env)->ReleasePrimitiveArrayCritical(env, c, pc, 0);
    }
    if (pb != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, b, pb, JNI_ABORT);
    }
    if (pa != NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, a, pa, JNI_ABORT);
    }
    if (pc == NULL) {
        jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
        if (oom != NULL) {
            (*env)->ThrowNew(env, oom, "could not pin a GEMM operand");
        }
    }
}
